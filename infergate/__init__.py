"""infergate: a pytest-based performance regression suite for CPU inference of HF task models.
Importing it stays cheap and torch-free: the lane set-up runs under the system Python."""

from __future__ import annotations

__version__ = "0.1.0"
