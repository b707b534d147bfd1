"""`sidecar import-legacy`: bring the old app's `app.db` into the sidecar's store.

- `schema.py`: the old app's tables, version by version, as its migrations made them;
- `read.py`: reads them read-only in one transaction, by the tables and columns present;
- `tree.py`: Main as the messages in the order the app showed them, and each old
  branch (a named copy of Main's path up to a message) as a branch that ends there;
- `plan.py`: the sidecar objects to add, with ids derived from the old rows, and
  every row it leaves counted with the reason;
- `progress.py`: the progress line on stderr;
- `command.py`: the command: finds the app's data folder, refuses while a sidecar
  holds the database, writes the history in one transaction, configuration through
  the engine's services, and prints the report.

The rule throughout: an import adds what the sidecar lacks and never changes
what is there, and the same old row always gets the same id, so running it
twice adds nothing the second time. Nothing here is imported by `serve`.
"""
