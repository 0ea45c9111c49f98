"""Measuring and judging: timing and statistics, workers, baseline and fusion files, verdict rules,
lane comparison, claims. May import core, matrix and building (docs/architecture.md)."""
