"""``python -m pyregions.cli``: the ``pyregions`` command."""

import sys

from . import main

sys.exit(main())
