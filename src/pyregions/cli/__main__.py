"""``python -m pyregions.cli``: the ``pyregions`` command."""

from __future__ import annotations

import sys

from . import main

# Guarded: local workers are spawned, and each imports the main module again.
if __name__ == "__main__":
    sys.exit(main())
