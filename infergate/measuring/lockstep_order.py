"""The call order of lockstep rounds, shared by the upgrade gate's lane workers and claims' BF16 worker
pairs: every round takes the units (a variant in one worker, or a variant and its counterpart back to
back) in a shuffled order; which worker goes first alternates by round, starting with the first side in
even ``offset`` (pair or replicate) and the second in odd ones (docs/upgrade-gate.md, "Calibration").
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
