"""``python -m flowforensics``."""

from __future__ import annotations

import sys

from flowforensics.cli import main

sys.exit(main())
