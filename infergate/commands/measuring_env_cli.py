"""``python3 -m infergate measuring-env``: the Debian packages the measuring environment needs and
this machine lacks, on one line (for ./suite's set-up, under the system Python: stdlib only)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..measuring.measuring_env import missing_packages
from .front import prog


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(prog=prog("measuring-env"), description=__doc__).parse_args(argv)
    print(" ".join(missing_packages()))
    return 0
