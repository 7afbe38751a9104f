"""Crash points: where the tests kill a process (as SIGKILL would) between two steps.

``FOLLOWUP_CRASH_AT=name`` ends the process at the point called ``name``; every step after
a crash point must resume from the store (DESIGN.md). The variable is read once, at import.
"""

from __future__ import annotations

import os
import signal

_TARGET = os.environ.get("FOLLOWUP_CRASH_AT") or None


def crash_point(name: str) -> None:
    """Kill this process here when the tests asked for ``name``."""
    if name == _TARGET:
        os.kill(os.getpid(), signal.SIGKILL)
