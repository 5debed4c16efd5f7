"""``python -m hbiview``: the command line."""

import sys

from hbiview.cli import main

sys.exit(main())
