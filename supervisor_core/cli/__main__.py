import sys

from supervisor_core.cli import main

sys.exit(main())
