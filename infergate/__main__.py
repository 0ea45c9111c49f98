"""``python -m infergate``: see ``infergate.commands.main``."""

from __future__ import annotations

import sys

from .commands.main import main

sys.exit(main())
