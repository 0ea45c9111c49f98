"""Reports: summary, results JSON, merging, Markdown/PNG, claims and dashboard. May import core,
matrix, building and measuring (docs/architecture.md)."""
