"""Tests of the tool itself.

Some tests run pytest in-process (pytester), which restores ``sys.modules`` afterwards: a torch or
transformers module first imported inside such a run is dropped and imported again later, and
torch refuses to register its operator libraries twice ("Only a single TORCH_LIBRARY can be used to
register the namespace c10d_functional"). Importing every model class of the zoo here, once, keeps
them out of any snapshot.
"""

from __future__ import annotations

import pytest

from infergate.matrix.models import task_model_class
from infergate.matrix.zoo import ARCHS, Task

for _arch in ARCHS.values():
    for _task in Task:
        task_model_class(_arch.model_type, _task)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (compile builds, whole pytest runs) first: under ``-n 2`` (``./suite
    test``) xdist hands tests out in collection order, and the longest one (the claims run end to
    end, ~80 % of the ipex lane's tool step when measured) must not start last while the other
    worker idles. Stable: the order is otherwise unchanged; nothing is deselected."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
