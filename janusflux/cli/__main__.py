"""``python -m janusflux.cli``."""

import sys

from . import main

sys.exit(main())
