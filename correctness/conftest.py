"""One pytest-xdist worker per case: the case's build is made once, not once per worker.

The four files here test the same cases, and a worker's harness builds each case it meets once
(``infergate.building.harness``). Under plain ``-n 2`` both workers meet nearly every case, so a
compile or IPEX build was made twice. With ``--dist loadgroup`` (``./suite test``) the scheduler
below hands out every test of one case (the test id's ``[...]`` part) to one worker as a unit.
xdist's own loadgroup (``xdist_group`` marks) cannot do it here: it renames ``item._nodeid``, which
pytest 9 no longer reads, so every test stayed a group of its own (seen: one case's tests on both
workers). The costly builds are collected first and, with ``--no-loadscope-reorder``, handed out
first, so no worker is left with a compile build at the end while the other idles.
Without xdist nothing here changes but the order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infergate.building.cases import Case

# Relative build cost per variant, for the order only (tests/README.md has the measured shares).
_COST_RANK = {"compile_autotune": 0, "compile_cpp": 1, "compile": 2, "jit_ipex": 3, "jit": 4, "eager": 5}
HERE = Path(__file__).resolve().parent


def case_of_nodeid(nodeid: str) -> str:
    """The unit of scheduling: the case id of a matrix test, else the test itself."""
    return nodeid.partition("[")[2].rstrip("]") or nodeid


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: absent without xdist (-p no:xdist)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class CaseScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return case_of_nodeid(nodeid)

    return CaseScheduling(config, log)


def _case(item: pytest.Item) -> Case | None:
    if HERE not in Path(item.path).resolve().parents:  # the hook sees every collected item
        return None
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("case") if callspec is not None else None
    return case if isinstance(case, Case) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        case = _case(item)
        return _COST_RANK.get(case.variant, len(_COST_RANK)) if case is not None else len(_COST_RANK)

    # Only this directory's cases move, among their own places; stable: within a variant the
    # collection order is kept.
    places = [i for i, item in enumerate(items) if _case(item) is not None]
    for i, item in zip(places, sorted((items[i] for i in places), key=rank), strict=True):
        items[i] = item
