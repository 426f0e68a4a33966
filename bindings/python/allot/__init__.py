"""allot: one native engine for feature flags and experiments.

``allot.amplitude`` mirrors Amplitude Experiment's Python SDK and ``allot.eppo`` Eppo's;
both are thin bindings over ``liballot`` (loaded from ``ALLOT_LIBRARY_PATH``, the copy
bundled in the wheel, or the system library path, in that order). Every error raised by
the library is an :class:`AllotError` whose ``code`` is the library's stable error code.
"""

from __future__ import annotations

import logging

from ._native import (
    ERROR_CLASSES,
    AllotError,
    AllotTimeoutError,
    DependencyCycleError,
    HttpStatusError,
    InputTooLargeError,
    InternalError,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidJsonError,
    InvalidResponseError,
    InvalidUtf8Error,
    LibraryNotFoundError,
    NetworkError,
    NotStartedError,
    UnauthorizedError,
    UnknownHandleError,
    UnsupportedError,
    library_path,
)
from ._native import version as native_version

__version__ = "0.1.0"

logging.getLogger("allot").addHandler(logging.NullHandler())

__all__ = [
    "ERROR_CLASSES",
    "AllotError",
    "AllotTimeoutError",
    "DependencyCycleError",
    "HttpStatusError",
    "InputTooLargeError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidJsonError",
    "InvalidResponseError",
    "InvalidUtf8Error",
    "LibraryNotFoundError",
    "NetworkError",
    "NotStartedError",
    "UnauthorizedError",
    "UnknownHandleError",
    "UnsupportedError",
    "__version__",
    "library_path",
    "native_version",
]
