"""``python -m semclust.cli``."""

from __future__ import annotations

import sys

from semclust.cli.app import main

sys.exit(main())
