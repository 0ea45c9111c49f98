"""Reports: terminal summary, results JSON, merged results, Markdown/PNG, claims and dashboard.

May import core, matrix, building and measuring (layer order: docs/architecture.md).
"""
