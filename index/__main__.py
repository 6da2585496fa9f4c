"""`python -m newsqa.index` (or `python -m index` from the repository root): the rebuild
script, the same as `newsqa index`."""

from newsqa.index.cli import main

raise SystemExit(main())
