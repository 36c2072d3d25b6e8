"""`python -m point_tron.sim` is `tron-sim`."""

from point_tron.sim._cli import main

raise SystemExit(main())
