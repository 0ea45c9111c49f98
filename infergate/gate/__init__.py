"""Lanes and the upgrade gate: lane locks and venvs, the lane worker, lock-step measuring, bisection.

May import core, matrix, building, measuring and reports (layer order: docs/architecture.md).
"""
