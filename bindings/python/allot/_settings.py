"""Configuration objects that remember which settings the caller gave.

The signatures show the vendors' documented defaults (a program written for their SDKs
reads the same values), but the library owns every default: only the settings a caller
passed, or assigned afterwards, are sent to it.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Set


class Settings:
    """Base of the configuration classes; :meth:`given` tells what the caller set."""

    _given: Set[str]
    _recording: bool

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:
            cls.__init__ = _recording(init)  # type: ignore[method-assign]

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if self.__dict__.get("_recording"):
            self._given.add(name)

    def given(self, name: str) -> bool:
        """Whether the caller set ``name`` (as an argument or by assignment)."""
        return name in self.__dict__.get("_given", ())


def _recording(init: Callable[..., None]) -> Callable[..., None]:
    signature = inspect.signature(init)

    @functools.wraps(init)
    def recording_init(self: Settings, *args: Any, **kwargs: Any) -> None:
        passed = set(signature.bind(self, *args, **kwargs).arguments)
        passed.discard("self")
        object.__setattr__(self, "_given", set())
        object.__setattr__(self, "_recording", False)
        init(self, *args, **kwargs)
        self._given.update(passed)
        object.__setattr__(self, "_recording", True)

    return recording_init
