"""What every command's parser shares with the front (``commands/main.py``): how it is started."""

from __future__ import annotations

FRONT = "python -m infergate"


def prog(command: str) -> str:
    """The ``prog`` of ``command``'s parser: its usage line reads as the front starts it."""
    return f"{FRONT} {command}"
