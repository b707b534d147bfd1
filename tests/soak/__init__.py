"""The reliability and security soak: "never lose a word, never let a stranger in", in figures.

`python -m tests.soak` (`make soak`) runs every phase at full size and prints one
JSON report; `tests/test_soak*.py` run the same phases small, inside `make test`.
Phases, one module each: `crash` (SIGKILL mid-stream, restart, compare), `load`
(100 streams, 3 clients), `isolation` (a client that stops reading), `faults`
(every fake-provider fault against every provider kind), `attack` (handshakes,
hostile frames, a fuzz run); `secrets` searches every byte the run produced.
Everything runs on loopback against real sidecar processes, real fake-provider
servers and real SQLite files, and stops by itself.
"""
