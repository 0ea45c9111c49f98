"""infergate: a pytest-based performance regression suite for CPU inference of HF task models.

Importing the package must stay cheap and free of torch: the lane set-up (``infergate.gate.lanes``)
runs under the system Python before any lane exists.
"""

from __future__ import annotations

__version__ = "0.1.0"
