"""``python -m magt_theory.cli`` runs the ``magt-theory`` command line."""

import sys

from . import main

sys.exit(main())
