"""The call order of lockstep rounds: two live workers timed one call at a time, so that a ratio
across them compares calls taken at the same moments.

Shared by the upgrade gate (``gate.lockstep``: a "from" and a "to" lane worker) and claims
(``claims_pair``: a BF16 row's plain-torch worker and its IPEX worker). Every round takes the
*units* in a shuffled order; a unit is one variant called in one worker, or two calls made back to
back, one in each worker (a variant and its counterpart). Back to back, because the machine's state
moves on the scale of a few calls (docs/upgrade-gate.md, "Calibration"). Which worker goes first
alternates round by round, starting with the first side in even ``offset`` (pair or replicate
index) and the second in odd ones: any edge of going first is balanced within each pair of rounds.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence


def lockstep_order(units: Sequence[str], sides: Mapping[str, Sequence[str]], rounds: int, rng: random.Random,
                   offset: int = 0) -> Iterator[tuple[int, str, list[str]]]:
    """(round, unit, the sides to call for it in this order) for ``rounds`` rounds. ``sides[unit]``
    lists the one or two sides that call ``unit``, in their natural order; ``rng`` shuffles the
    units once per round (the gate's seeded sequence depends on that: one shuffle per round)."""
    order = list(units)
    for r in range(rounds):
        rng.shuffle(order)
        for unit in order:
            call = list(sides[unit])
            if (r + offset) % 2 and len(call) == 2:
                call.reverse()
            yield r, unit, call
