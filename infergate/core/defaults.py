"""The gates' defaults, one of each, stdlib-only (the upgrade gate starts under the system Python,
before any lane's numpy exists): a change smaller than the floor never fails a gate (the size users
care about), and intervals are at this confidence unless a family correction asks for more."""

from __future__ import annotations

DEFAULT_FLOOR = 0.05
DEFAULT_CONFIDENCE = 0.99
