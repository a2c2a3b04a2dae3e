"""``python -m xlogreg``: the same as the ``xlogreg`` command."""

import sys

from .cli import main

sys.exit(main())
