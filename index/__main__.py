"""`python -m index`: the rebuild script, the same as `newsqa index`."""

from index.cli import main

raise SystemExit(main())
