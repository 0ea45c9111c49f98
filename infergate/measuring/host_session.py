"""The host session a recording belongs to: one boot of one host."""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .baseline_records import SessionInfo

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def host_identity(boot_id_path: Path = BOOT_ID) -> str:
    """A session id: a hash of host name and boot id (not reversible); a reboot is a new session."""
    try:
        boot = boot_id_path.read_text().strip()
    except OSError:
        boot = "no-boot-id"
    return "h-" + hashlib.sha256(f"{platform.node()}|{boot}".encode()).hexdigest()[:12]


def this_session(environment: Mapping[str, Any], source: str = "recorded") -> tuple[str, SessionInfo]:
    sid = host_identity()
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return sid, SessionInfo(host=sid, kernel=platform.release(), first=now, last=now,
                            environment=dict(environment), source=source)
