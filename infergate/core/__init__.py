"""The ground floor: errors, the atomic writer, argument types, defaults, paths. May import nothing
else in infergate (docs/architecture.md)."""
