"""What a claims report knows of other hosts and processes of its class: read once from the baselines
and kept in claims.json (``hosts``, version 4 on), so that a report renders again from its own file
after more sessions are recorded, and says on which day its "across hosts" figures were read.
``claims --render DIR --refresh-hosts`` reads them again."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..building.variants import COMPILE, JIT, JIT_IPEX, REFERENCE
from .claims import HostSpread, host_spread, process_sd

# The ratios a report judges across hosts (a fusion benefit; can compile replace jit_ipex), and those
# whose spread between processes its caveat for one-process rows quotes (a lane without IPEX has the second).
HOST_RATIOS = ((JIT_IPEX, JIT), (COMPILE, JIT_IPEX))
PROCESS_RATIOS = ((JIT_IPEX, JIT), (JIT, REFERENCE))
PROCESS_DTYPES = ("fp32", "bf16")

Key = tuple[str, str, str]  # (dtype, faster, slower)


@dataclass(frozen=True)
class HostFigures:
    """The spreads a report was rendered with, and where and when they were read."""

    source: str  # "baselines/<class>/<lane>.json", or why there is none
    read_on: str  # the UTC date they were read
    spreads: Mapping[Key, HostSpread] = field(default_factory=dict)  # absent: fewer than two sessions
    process: Mapping[Key, tuple[float, int]] = field(default_factory=dict)  # (sd, df) of the ratio's log

    def spread(self, dtype: str, faster: str, slower: str) -> HostSpread | None:
        return self.spreads.get((dtype, faster, slower))

    def to_json(self) -> dict:
        return {"source": self.source, "read on": self.read_on,
                "between sessions": [{"dtype": d, "faster": a, "slower": b, "sd": s.sd, "sessions": s.sessions,
                                      "cases": s.cases, "df": s.df, "floored": s.floored,
                                      "process_var": s.process_var}
                                     for (d, a, b), s in sorted(self.spreads.items())],
                "between processes": [{"dtype": d, "faster": a, "slower": b, "sd": sd, "df": df}
                                      for (d, a, b), (sd, df) in sorted(self.process.items())]}


def utc_today() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def read_hosts(baselines: Path, machine_class: str, lane: str | None, dtypes: Sequence[str],
               today: str) -> HostFigures:
    """The report's figures from ``baselines/<class>/<lane>.json`` as it stands today."""
    if lane is None:
        return HostFigures("the baselines (no lane named)", today)
    spreads = {(d, a, b): s for d in dtypes for a, b in HOST_RATIOS
               for s in [host_spread(baselines, machine_class, lane, a, b, d)] if s is not None}
    process = {(d, a, b): p for d in PROCESS_DTYPES for a, b in PROCESS_RATIOS
               for p in [process_sd(baselines, machine_class, lane, a, b, d)] if p is not None}
    return HostFigures(f"baselines/{machine_class}/{lane}.json", today, spreads, process)


def _number(raw: Mapping, name: str, kind: type, low: float) -> float:
    value = raw.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) \
            or not math.isfinite(value) or value < low:
        raise ValueError(f"its hosts' {name} is {value!r}, not a {'number' if kind is float else 'whole number'} "
                         f">= {low:g}")
    return value


def _key(raw: Mapping) -> Key:
    key = (raw.get("dtype"), raw.get("faster"), raw.get("slower"))
    if not all(isinstance(x, str) for x in key):
        raise ValueError(f"its hosts' entry {dict(raw)!r} does not name dtype, faster and slower")
    return key  # type: ignore[return-value]


def hosts_from_json(raw: object) -> HostFigures:
    """claims.json's ``hosts`` back, or ValueError naming what is wrong."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("source"), str) \
            or not isinstance(raw.get("read on"), str):
        raise ValueError("its hosts must be an object with a source and a 'read on' date")
    between, processes = raw.get("between sessions"), raw.get("between processes")
    if not isinstance(between, list) or not isinstance(processes, list) \
            or not all(isinstance(x, Mapping) for x in [*between, *processes]):
        raise ValueError("its hosts' 'between sessions' and 'between processes' must be lists of objects")
    spreads = {}
    for s in between:
        df = s.get("df")
        if df is not None:
            df = int(_number(s, "df", int, 1))
        spreads[_key(s)] = HostSpread(_number(s, "sd", float, 0.0), int(_number(s, "sessions", int, 2)),
                                      int(_number(s, "cases", int, 1)), df, int(_number(s, "floored", int, 0)),
                                      _number(s, "process_var", float, 0.0))
    process = {_key(p): (_number(p, "sd", float, 0.0), int(_number(p, "df", int, 1))) for p in processes}
    return HostFigures(raw["source"], raw["read on"], spreads, process)
