"""Measuring and judging: timing rounds and the statistics of speedups, worker processes, the measuring
environment, memory, the baseline and fusion-expectation files and the gates' verdict rules, lane
comparison, and the claims measurements.

May import core, matrix and building. The order of layers, checked by tests/test_architecture.py:
core < matrix < building < measuring < reports < gate < pytest_plugin < commands; a layer imports
only layers before it.
"""
