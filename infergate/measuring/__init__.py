"""Measuring and judging: timing and its statistics, worker processes, the measuring environment,
memory, baseline and fusion files, the gates' verdict rules, lane comparison, claims measurements.

May import core, matrix and building (layer order: docs/architecture.md).
"""
