"""The command line: ``python -m infergate COMMAND``, one module per command.

May import every layer (layer order: docs/architecture.md).
"""
