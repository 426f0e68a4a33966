"""The thin native layer: loads ``liballot``, declares every C function exactly, and turns
the ``{"ok"}``/``{"error"}`` envelopes into values and exceptions.

Every string the library returns is declared ``c_void_p`` (never ``c_char_p``, which would
copy and leak it), copied with ``string_at`` and then freed with ``allot_string_free``.
ctypes releases the GIL for the duration of every foreign call.
"""

from __future__ import annotations

import ctypes
import json
import logging
import marshal
import os
import struct
import sys
import threading
from ctypes import POINTER, c_bool, c_char_p, c_int64, c_size_t, c_uint32, c_uint64, c_void_p
from typing import Any, Dict, List, Optional, Tuple

logger = logging.getLogger("allot")

# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


class AllotError(Exception):
    """An error reported by liballot. ``code`` is the stable error code (see docs/c-api.md),
    ``message`` the library's explanation."""

    code: str = "internal"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class InvalidArgumentError(AllotError, ValueError):
    """A required argument was missing, or a request had the wrong shape."""


class InvalidUtf8Error(AllotError, ValueError):
    """A string argument was not valid UTF-8."""


class InvalidJsonError(AllotError, ValueError):
    """A string argument was not valid JSON."""


class InvalidConfigError(AllotError, ValueError):
    """The configuration was rejected."""


class InputTooLargeError(AllotError, ValueError):
    """An input exceeded its size cap."""


class UnknownHandleError(AllotError):
    """The client was already freed (closed, stopped or shut down)."""


class NotStartedError(AllotError):
    """The client has not been started."""


class DependencyCycleError(AllotError, ValueError):
    """The flag configuration contains a dependency cycle."""


class UnsupportedError(AllotError):
    """The operation is not available for this client."""


class InternalError(AllotError):
    """A bug inside allot (a caught panic); please report it."""


class NetworkError(AllotError, ConnectionError):
    """The server could not be reached."""


class AllotTimeoutError(AllotError, TimeoutError):
    """The operation did not finish in time."""


class HttpStatusError(AllotError):
    """The server answered with an unexpected HTTP status."""


class InvalidResponseError(AllotError):
    """The server's answer could not be understood."""


class UnauthorizedError(AllotError, PermissionError):
    """The server rejected the API key."""


ERROR_CLASSES: Dict[str, type] = {
    "invalid_argument": InvalidArgumentError,
    "invalid_utf8": InvalidUtf8Error,
    "invalid_json": InvalidJsonError,
    "invalid_config": InvalidConfigError,
    "input_too_large": InputTooLargeError,
    "unknown_handle": UnknownHandleError,
    "not_started": NotStartedError,
    "dependency_cycle": DependencyCycleError,
    "unsupported": UnsupportedError,
    "internal": InternalError,
    "network": NetworkError,
    "timeout": AllotTimeoutError,
    "http_status": HttpStatusError,
    "invalid_response": InvalidResponseError,
    "unauthorized": UnauthorizedError,
}
for _code, _cls in ERROR_CLASSES.items():
    _cls.code = _code


def error_from(error: Any) -> AllotError:
    """Builds the exception for the ``error`` member of an envelope."""
    if not isinstance(error, dict):
        return InternalError("internal", f"malformed error envelope: {error!r}")
    code = str(error.get("code", "internal"))
    message = str(error.get("message", ""))
    cls = ERROR_CLASSES.get(code, AllotError)
    return cls(code, message)


_decode_json = json.JSONDecoder().decode
_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _no_default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


if getattr(json.encoder, "c_make_encoder", None) is not None:
    # json's C encoder, built once (JSONEncoder.encode builds one per call, which costs
    # more than encoding a small object): compact separators, non-ASCII kept. Without
    # circular-reference markers (they cannot be shared between threads): a cyclic
    # value raises RecursionError.
    _compact_encoder = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, _no_default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )

    def value_json(value: Any) -> str:
        """``value`` as compact JSON text (as ``_encode_json``)."""
        return "".join(_compact_encoder(value, 0))

    def compact_json(value: Any) -> bytes:
        """``value`` as compact JSON (as ``_encode_json``), UTF-8 encoded: the fast lane's
        inputs."""
        return "".join(_compact_encoder(value, 0)).encode("utf-8")

else:  # pragma: no cover - interpreters without json's C accelerator
    value_json = _encode_json

    def compact_json(value: Any) -> bytes:
        """``value`` as compact JSON (as ``_encode_json``), UTF-8 encoded: the fast lane's
        inputs."""
        return _encode_json(value).encode("utf-8")


def decode(data: bytes) -> Any:
    """Decodes an envelope: returns the ``ok`` value or raises the ``error``."""
    doc = _decode_json(data.decode("utf-8"))
    try:
        return doc["ok"]
    except (KeyError, TypeError):
        if isinstance(doc, dict) and "error" in doc:
            raise error_from(doc["error"]) from None
        raise InternalError("internal", f"malformed envelope: {data[:200]!r}") from None


# ---------------------------------------------------------------------------------------
# Declarations: (restype, argtypes) for every function of include/allot.h. Returned
# strings that the caller owns are c_void_p; inputs are c_char_p (borrowed bytes).
# ---------------------------------------------------------------------------------------

SIGNATURES: Dict[str, Tuple[Any, List[Any]]] = {
    "allot_init": (c_uint64, [c_char_p, POINTER(c_void_p)]),
    "allot_start": (c_void_p, [c_uint64, c_uint32]),
    "allot_evaluate": (c_void_p, [c_uint64, c_char_p]),
    "allot_fetch": (c_void_p, [c_uint64, c_char_p]),
    "allot_status": (c_void_p, [c_uint64]),
    "allot_flush": (c_void_p, [c_uint64, c_uint32]),
    "allot_stop": (c_void_p, [c_uint64, c_uint32]),
    "allot_configuration": (c_void_p, [c_uint64]),
    "allot_delivery_reports": (c_void_p, [c_uint64, c_uint32]),
    "allot_free": (None, [c_uint64]),
    "allot_string_free": (None, [c_void_p]),
    "allot_murmur3": (c_void_p, [c_char_p]),
    "allot_version": (c_char_p, []),  # static string, never freed
    "allot_cookie_name": (c_void_p, [c_char_p, c_bool]),
    "allot_cookie_parse": (c_void_p, [c_char_p, c_bool]),
    "allot_cookie_generate": (c_void_p, [c_char_p, c_bool]),
    # The fast lane: answers written into a buffer the binding owns.
    "allot_evaluate_compact": (c_int64, [c_uint64, c_char_p, c_char_p, c_void_p, c_size_t]),
    "allot_result_json": (c_int64, [c_uint64, c_uint64, c_uint32, c_void_p, c_size_t]),
    "allot_eppo_assign": (
        c_int64,
        [c_uint64, c_char_p, c_char_p, c_char_p, c_uint32, c_bool, c_void_p, c_size_t],
    ),
    # The same with the attributes as marshal version 2 bytes (the compact binary form).
    "allot_eppo_assign_marshal": (
        c_int64,
        [c_uint64, c_char_p, c_char_p, c_char_p, c_size_t, c_uint32, c_bool, c_void_p, c_size_t],
    ),
    # allot_evaluate_compact with the user as a marshalled tuple of its fields.
    "allot_evaluate_compact_marshal": (c_int64, [c_uint64, c_char_p, c_size_t, c_char_p, c_void_p, c_size_t]),
}

#: Functions the binding needs from every library it loads.
REQUIRED = (
    "allot_init",
    "allot_start",
    "allot_evaluate",
    "allot_fetch",
    "allot_status",
    "allot_free",
    "allot_string_free",
    "allot_version",
)

if sys.platform == "darwin":
    _LIB_FILE = "liballot.dylib"
    _SYSTEM_NAMES = ("liballot.0.dylib", "liballot.dylib")
elif sys.platform == "win32":
    _LIB_FILE = "allot.dll"
    _SYSTEM_NAMES = ("allot.dll",)
else:
    _LIB_FILE = "liballot.so"
    _SYSTEM_NAMES = ("liballot.so.0", "liballot.so")

ENV_VAR = "ALLOT_LIBRARY_PATH"


class LibraryNotFoundError(ImportError):
    """liballot could not be loaded; ``attempts`` lists ``(path, reason)`` per candidate."""

    def __init__(self, attempts: List[Tuple[str, str]]) -> None:
        lines = "\n".join(f"  - {path}: {reason}" for path, reason in attempts)
        super().__init__(
            "allot: could not load the native library liballot. Tried, in order:\n"
            f"{lines}\n"
            f"Set {ENV_VAR} to the path of liballot (a file or its directory), or "
            "install a wheel built for this platform."
        )
        self.attempts = attempts


def candidates() -> List[Tuple[str, str]]:
    """The library paths the loader tries, in order, as ``(origin, path)``."""
    found: List[Tuple[str, str]] = []
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        path = os.path.join(explicit, _LIB_FILE) if os.path.isdir(explicit) else explicit
        found.append((ENV_VAR, path))
    bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_lib", _LIB_FILE)
    found.append(("bundled", bundled))
    for name in _SYSTEM_NAMES:
        found.append(("system", name))
    return found


def _open(path: str, origin: str) -> ctypes.CDLL:
    if origin != "system" and not os.path.exists(path):
        raise OSError("no such file")
    lib = ctypes.CDLL(path)
    missing = [name for name in REQUIRED if not hasattr(lib, name)]
    if missing:
        raise OSError(f"not a compatible liballot (missing {', '.join(missing)})")
    return lib


def load_library() -> Tuple[ctypes.CDLL, str]:
    """Loads liballot: ``ALLOT_LIBRARY_PATH``, then the copy bundled in the wheel, then the
    system library path. Raises :class:`LibraryNotFoundError` listing every attempt."""
    attempts: List[Tuple[str, str]] = []
    for origin, path in candidates():
        try:
            lib = _open(path, origin)
        except OSError as e:
            attempts.append((f"{path} ({origin})", str(e) or e.__class__.__name__))
            continue
        if attempts:
            logger.warning("allot: loaded %s after %s", path, "; ".join(f"{p}: {r}" for p, r in attempts))
        return lib, path
    raise LibraryNotFoundError(attempts)


def _declare(lib: ctypes.CDLL) -> None:
    for name, (restype, argtypes) in SIGNATURES.items():
        fn = getattr(lib, name, None)
        if fn is None:
            continue
        fn.restype = restype
        fn.argtypes = argtypes


lib, library_path = load_library()
_declare(lib)

_string_at = ctypes.string_at
_free_string = lib.allot_string_free
_init = lib.allot_init
_start = lib.allot_start
_evaluate = lib.allot_evaluate
_fetch = lib.allot_fetch
_status = lib.allot_status
_free = lib.allot_free


# The fast lane's calls are short and never block or call back into Python: they go
# through PyDLL, keeping the GIL for their microsecond instead of releasing and
# re-acquiring it. Blocking calls (start, fetch, flush) stay on CDLL above.
_fast = ctypes.PyDLL(library_path)
_declare(_fast)
has_fast_marshal = hasattr(_fast, "allot_eppo_assign_marshal")
_result_json = _fast.allot_result_json


def _unchecked(name: str) -> Any:
    """A second PyDLL function object for ``name``, declared without ``argtypes``: ctypes
    then converts each argument by its own type (bytes, None, a small int, a ctypes
    instance), which costs about half of the per-argument ``from_param`` checks. Callers
    pass exactly the declared types: ``c_uint64`` handles, ``c_size_t`` capacities,
    ``bytes`` or ``None`` strings, and ints below 2**31."""
    fn = _fast[name]
    fn.restype = c_int64
    return fn


_evaluate_compact = _unchecked("allot_evaluate_compact")
_eppo_assign = _unchecked("allot_eppo_assign")
# Eppo attributes in the compact binary form (marshal version 2: several times cheaper to
# write than JSON) when the library has it; attributes marshal or the library refuses go
# as JSON. (Amplitude users go as a marshalled tuple: see evaluate_compact_marshal_raw.)
_eppo_assign_marshal = _unchecked("allot_eppo_assign_marshal") if has_fast_marshal else None
_marshal = marshal.dumps
#: ``allot_eppo_assign`` and ``allot_eppo_assign_marshal`` themselves (arguments as
#: :func:`_unchecked` says; the second ``None`` when the library lacks it), for a
#: caller that inlines :func:`eppo_assign_into`.
eppo_assign_raw = _eppo_assign
eppo_assign_marshal_raw = _eppo_assign_marshal
_header = struct.Struct("<QI")
#: ``c_size_t`` arguments by value, built once (ctypes passes them by value; never changed).
sizes = [c_size_t(n) for n in range(1024)]


class _Buffer(threading.local):
    """This thread's answer buffer and its capacity (as the ``c_size_t`` it is passed as).
    ``buf[:n]`` copies an answer out (a slice of a ``c_char`` array is ``bytes``, several
    times cheaper than ``ctypes.string_at``). ``state`` is ``(buf, capacity, size)`` in
    one attribute: reading an attribute of a thread-local costs about as much as a
    Python call, so hot paths read this one."""

    def __init__(self) -> None:
        self.grow(4096)

    def grow(self, size: int) -> None:
        self.buf = ctypes.create_string_buffer(size)
        self.size = size
        self.capacity = c_size_t(size)
        self.state = (self.buf, self.capacity, size)


_buffers = _Buffer()


def _call(fn: Any, *args: Any, n: Optional[int] = None) -> bytes:
    """Runs a fast-lane function into this thread's buffer (grown when too small); the
    answer's bytes, or raises the library's error. ``n``: what a first call already
    returned."""
    b = _buffers
    while True:
        if n is None:
            n = fn(*args, b.buf, b.capacity)
        size = -n if n < 0 else n
        if size > b.size:
            b.grow(size)
            n = None
            continue
        data = b.buf[:size]
        if n < 0:
            decode(data)
            raise InternalError("internal", "a fast-lane error without an error document")
        return data


def handle_arg(handle: int) -> c_uint64:
    """A handle as the fast lane's calls take it (built once per client)."""
    return c_uint64(handle)


_id_lists: Dict[int, struct.Struct] = {}


#: ``allot_evaluate_compact`` itself (arguments as :func:`_unchecked` says), for the
#: binding's hot path: an answer ``0 < n <= buffers.size`` is ``buffers.buf[:n]``, any
#: other result goes to :func:`compact_answer`.
evaluate_compact_raw = _evaluate_compact
#: ``allot_evaluate_compact_marshal`` itself (arguments as :func:`_unchecked` says; the
#: length a ``c_size_t``, see :data:`sizes`), ``None`` when the library lacks it: the
#: user as ``marshal.dumps`` of the tuple of its fields. The binding sends JSON instead
#: when it is refused (or the answer does not fit the buffer).
evaluate_compact_marshal_raw = (
    _unchecked("allot_evaluate_compact_marshal") if hasattr(_fast, "allot_evaluate_compact_marshal") else None
)


def compact_answer(handle: c_uint64, user: bytes, flag_keys: Optional[bytes], n: int) -> bytes:
    """The answer of an ``allot_evaluate_compact`` call that returned ``n`` and did not
    fit the buffer (read once the buffer has grown), or the library's error raised."""
    return _call(_evaluate_compact, handle, user, flag_keys, n=n)


def evaluate_compact(handle: c_uint64, user: Dict[str, Any], flag_keys: Optional[bytes]) -> Tuple[int, Tuple[int, ...]]:
    """``allot_evaluate_compact`` (``handle`` from :func:`handle_arg`) of a user dict: the
    snapshot id and the result ids."""
    return compact_ids(_call(_evaluate_compact, handle, compact_json(user), flag_keys))


def compact_ids(answer: bytes) -> Tuple[int, Tuple[int, ...]]:
    """An ``allot_evaluate_compact`` answer's snapshot id and result ids."""
    snapshot, count = _header.unpack_from(answer)
    ids = _id_lists.get(count)
    if ids is None:
        ids = _id_lists[count] = struct.Struct(f"<{count}I")
    return snapshot, ids.unpack_from(answer, 12)


def result_json(handle: int, snapshot: int, result_id: int) -> Optional[Any]:
    """``allot_result_json`` decoded; ``None`` when the snapshot is no longer current."""
    data = _call(_result_json, handle, snapshot, result_id)
    return _decode_json(data.decode("utf-8")) if data else None


#: This thread's answer buffer (see :class:`_Buffer`).
buffers = _buffers


def eppo_assign_into(
    handle: c_uint64, flag_key: bytes, subject_key: bytes, attributes: Dict[str, Any], variation_type: int, event: int
) -> Tuple[int, Any]:
    """``allot_eppo_assign`` into :data:`buffers`, the binding's hot path: the result,
    and how the attributes were sent (for :func:`eppo_assign`). An answer
    ``0 < n <= buffers.size`` is ``buffers.buf[:n]``; any other result goes to
    :func:`eppo_assign`. Attributes marshal or the library refuses go as JSON (then
    errors are the JSON input's)."""
    b = _buffers
    if not attributes:
        return _eppo_assign(handle, flag_key, subject_key, None, variation_type, event, b.buf, b.capacity), None
    if _eppo_assign_marshal is not None:
        try:
            packed = _marshal(attributes, 2)
        except ValueError:  # a type marshal does not write
            pass
        else:
            length = len(packed)
            size = sizes[length] if length < 1024 else c_size_t(length)
            n = _eppo_assign_marshal(
                handle, flag_key, subject_key, packed, size, variation_type, event, b.buf, b.capacity
            )
            if n >= 0:
                return n, (packed, size)
    text = compact_json(attributes)
    return _eppo_assign(handle, flag_key, subject_key, text, variation_type, event, b.buf, b.capacity), text


def eppo_assign(
    handle: c_uint64, flag_key: bytes, subject_key: bytes, sent: Any, variation_type: int, event: int, n: int
) -> bytes:
    """The compact answer of a call :func:`eppo_assign_into` made (``sent`` and ``n``
    are what it returned) when it is not in the buffer: read once the buffer has grown,
    or the library's error raised."""
    if isinstance(sent, tuple):
        packed, size = sent
        return _call(_eppo_assign_marshal, handle, flag_key, subject_key, packed, size, variation_type, event, n=n)
    return _call(_eppo_assign, handle, flag_key, subject_key, sent, variation_type, event, n=n)


def has(name: str) -> bool:
    """Whether the loaded library exports ``name`` (e.g. the cookie functions)."""
    return hasattr(lib, name)


def take(ptr: Optional[int]) -> bytes:
    """Copies a returned string and frees the original exactly once."""
    if not ptr:
        raise InternalError("internal", "liballot returned NULL")
    try:
        return _string_at(ptr)
    finally:
        _free_string(ptr)


def version() -> str:
    """The native library's version."""
    return lib.allot_version().decode("utf-8")


def _encode(doc: Any) -> bytes:
    if isinstance(doc, bytes):
        return doc
    if isinstance(doc, str):
        return doc.encode("utf-8")
    return _encode_json(doc).encode("utf-8")


def init(config: Any) -> int:
    """``allot_init``: returns the new handle or raises the library's error."""
    err = c_void_p()
    handle = _init(_encode(config), ctypes.byref(err))
    if handle == 0:
        if err.value:
            decode(take(err.value))
        raise InternalError("internal", "allot_init failed without an error document")
    if err.value:  # never expected on success; free it all the same
        take(err.value)
    return handle


def start(handle: int, timeout_ms: int) -> Any:
    """``allot_start``: returns the status document."""
    timeout_ms = max(0, min(int(timeout_ms), 0xFFFFFFFF))
    return decode(take(_start(handle, timeout_ms)))


def evaluate(handle: int, request: Any) -> Any:
    """``allot_evaluate`` with a request given as bytes, str or a JSON-able object."""
    return decode(take(_evaluate(handle, _encode(request))))


def evaluate_raw(handle: int, request: bytes) -> bytes:
    """``allot_evaluate`` returning the undecoded envelope (for the fast paths)."""
    ptr = _evaluate(handle, request)
    try:
        return _string_at(ptr)
    finally:
        _free_string(ptr)


def fetch(handle: int, request: Any) -> Any:
    """``allot_fetch``."""
    return decode(take(_fetch(handle, _encode(request))))


def status(handle: int) -> Any:
    """``allot_status``."""
    return decode(take(_status(handle)))


def flush(handle: int, timeout_ms: int) -> Any:
    """Sends the client's queued analytics events; returns the event counters."""
    return decode(take(lib.allot_flush(handle, timeout_ms)))


def stop(handle: int, timeout_ms: int) -> Any:
    """``allot_stop``: ends background work for good (evaluation goes on); sends queued
    events within ``timeout_ms``. Returns the status document."""
    timeout_ms = max(0, min(int(timeout_ms), 0xFFFFFFFF))
    return decode(take(lib.allot_stop(handle, timeout_ms)))


def configuration(handle: int) -> Any:
    """``allot_configuration``: ``{"flags", "bandits"}``, the documents served now."""
    return decode(take(lib.allot_configuration(handle)))


def delivery_reports(handle: int, timeout_ms: int) -> Any:
    """``allot_delivery_reports``: the events' delivery reports, waiting at most
    ``timeout_ms`` for one (the GIL is released meanwhile)."""
    return decode(take(lib.allot_delivery_reports(handle, timeout_ms)))


def free(handle: int) -> None:
    """``allot_free`` (idempotent)."""
    _free(handle)


def murmur3(text: str, seed: int = 0) -> int:
    """``allot_murmur3``: the bucketing hash."""
    return decode(take(lib.allot_murmur3(_encode({"input": text, "seed": seed}))))["hash"]


def _cookie(name: str, text: str, new_format: bool) -> Any:
    fn = getattr(lib, name, None)
    if fn is None:
        raise UnsupportedError("unsupported", f"this liballot ({library_path}) does not export {name}")
    if not isinstance(text, str):
        raise InvalidArgumentError("invalid_argument", f"expected a string, got {type(text).__name__}")
    return decode(take(fn(text.encode("utf-8"), bool(new_format))))


def cookie_name(api_key: str, new_format: bool) -> str:
    return _cookie("allot_cookie_name", api_key, new_format)


def cookie_parse(value: str, new_format: bool) -> Dict[str, Any]:
    return _cookie("allot_cookie_parse", value, new_format)


def cookie_generate(device_id: str, new_format: bool) -> str:
    return _cookie("allot_cookie_generate", device_id, new_format)
