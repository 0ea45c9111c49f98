"""Lanes and the upgrade gate: lane lock files and virtual environments (and a lane resolved from
the newest releases, for the canary), the lane worker, lock-step measurement across lanes, the gate
and its bisection.

May import every layer below it (core, matrix, building, measuring, reports). The order of layers,
checked by tests/test_architecture.py: core < matrix < building < measuring < reports < gate <
pytest_plugin < commands; a layer imports only layers before it.
"""
