import sys

from supervisor_core.daemon import main

sys.exit(main())
