"""``python -m metalegnet`` (also what ``torchrun -m metalegnet`` runs)."""

import sys

from metalegnet.cli import main

sys.exit(main())
