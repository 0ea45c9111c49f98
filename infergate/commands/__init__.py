"""The command line, ``python -m infergate COMMAND``, one module each. May import every layer."""
