"""What is measured, as data: architectures, tasks, sizes, dtypes and tolerances, inputs, seeded
models, the packaged checkpoint, answer agreement.

May import core only, and never torch at module level (layer order: docs/architecture.md).
"""
