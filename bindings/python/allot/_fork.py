"""Fork handling: only ``after_in_child`` hooks (a ``before`` hook can deadlock the parent).

The native library detects a fork itself (pid check) and restarts its own background
work in the child; the binding only resets Python-side locks and thread pools.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, List

_hooks: List[Callable[[], None]] = []


def register_fork_child(hook: Callable[[], None]) -> None:
    """Runs ``hook`` in every child process right after ``os.fork()``."""
    _hooks.append(hook)


def _after_in_child() -> None:
    for hook in _hooks:
        try:
            hook()
        except Exception:  # noqa: BLE001 - never break the child's fork
            logging.getLogger("allot").exception("allot: after-fork hook failed")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_in_child)
