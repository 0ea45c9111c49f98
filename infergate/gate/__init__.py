"""Lanes and the upgrade gate: locks and venvs, the lane worker, lock-step measuring, bisection.
May import core, matrix, building, measuring and reports (docs/architecture.md)."""
