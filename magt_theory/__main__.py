"""``python -m magt_theory`` runs the ``magt-theory`` command line."""

import sys

from .cli import main

sys.exit(main())
