"""What is measured, as data: models, tasks, sizes, dtypes, tolerances, inputs, answer agreement.
May import core only, and never torch at module level (docs/architecture.md)."""
