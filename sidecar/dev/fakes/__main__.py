import sys

from sidecar.dev.fakes.cli import main

sys.exit(main())
