"""`sidecar import-legacy`: bring the old app's SQLite data into the sidecar's store.

- `schema.py`: the old app's tables as this importer reads them;
- `read.py`: reads them read-only, tolerating the columns and tables older
  versions lacked, with every timestamp format turned into Unix milliseconds;
- `tree.py`: the old app's branches (each a copy of the path it started from)
  become one message tree where the copies collapse into shared messages;
- `plan.py`: the sidecar objects to add, with ids derived from the old rows;
- `command.py`: the command: refuses while a sidecar holds the database, writes
  the history in one transaction, configuration through the engine's services.

The rule throughout: an import adds what the sidecar lacks and never changes
what is there, and the same old row always gets the same id, so running it
twice adds nothing the second time. Nothing here is imported by `serve`.
"""
