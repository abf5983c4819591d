"""`python -m kgrel.app.cli`: the same as the `kgrel` console script."""

import sys

from kgrel.app.cli import main

sys.exit(main())
