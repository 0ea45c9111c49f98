"""Building and proving: capabilities and machine class, the variants and their proofs, cases and
profiles, the harness, the shard plan, the slowdown injector.

May import core and matrix (layer order: docs/architecture.md).
"""
