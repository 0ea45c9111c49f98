"""The ground floor: errors, the atomic writer, shared argument types, defaults, paths.

May import nothing else in infergate (layer order: docs/architecture.md).
"""
