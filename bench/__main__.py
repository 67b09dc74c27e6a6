"""``python -m bench [NAME ...] [--quick] [--json]``: run the side-by-side benchmarks."""

from bench.harness import main

raise SystemExit(main())
