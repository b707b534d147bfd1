import sys

from sidecar.fakes.cli import main

sys.exit(main())
