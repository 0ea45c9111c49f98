"""``python -m infergate shards``: the nightly's shard plan (``building.shards``) as a GitHub Actions matrix."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from ..building.cases import PROFILES, get_profile
from ..building.shards import DEFAULT_BUDGET_MIN, PLAN_REPEAT, loads_s, shards_needed
from ..core.errors import InfergateError, PackageMissing
from .front import prog


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog("shards"), description=__doc__)
    p.add_argument("--profile", choices=tuple(PROFILES), default="nightly",
                   help="the profile to split. Default: nightly")
    p.add_argument("--budget-min", type=float, default=DEFAULT_BUDGET_MIN,
                   help=f"estimated minutes a shard may take. Default: {DEFAULT_BUDGET_MIN:g}")
    args = p.parse_args(argv)
    if not args.budget_min > 0:
        p.error(f"--budget-min must be > 0, got {args.budget_min}")
    try:
        profile = get_profile(args.profile)
        n = shards_needed(profile, args.budget_min * 60)
        loads = loads_s(profile, n)
    except PackageMissing as exc:  # the profile's packaged checkpoint: a lane has it, the system python not
        print(f"infergate shards: {exc}; under {sys.executable}, run it with a lane's python, e.g. "
              ".venvs/current/bin/python -m infergate shards", file=sys.stderr)
        return 2
    except InfergateError as exc:
        print(f"infergate shards: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        p.error(str(exc))
    print(f"infergate shards: profile {args.profile}, {PLAN_REPEAT} perf run(s) per model: {n} shard(s), estimated "
          f"{', '.join(f'{s / 60:.0f}' for s in loads)} min", file=sys.stderr)
    print(json.dumps([f"{i}/{n}" for i in range(1, n + 1)]))
    return 0


