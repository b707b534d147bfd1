"""The frozen executable's entry point: the same `main` as `python -m sidecar`."""

from sidecar.cli import main

raise SystemExit(main())
