"""Building and proving: capabilities, machine class, variants and proofs, cases, profiles, the
harness, shards, the slowdown injector. May import core and matrix (docs/architecture.md)."""
