"""Eppo compatible API over liballot.

A program written for ``eppo_client`` changes only its import lines::

    import allot.eppo as eppo_client
    from allot.eppo.config import Config
    from allot.eppo.assignment_logger import AssignmentLogger

Two calling conventions are supported and told apart by the presence of a default:

* **with a default** — the current SDK (4.x):
  ``get_string_assignment(flag_key, subject_key, subject_attributes, default)`` (4
  positional arguments, or ``default=`` given by keyword) returns the assigned value or
  ``default``; ``get_integer_assignment`` and ``get_json_assignment`` and the
  ``*_assignment_details`` methods only exist in this form.
* **without a default** — the older SDK of the seed documentation:
  ``get_string_assignment(subject_key, flag_key, subject_attributes=None)`` (2 or 3
  arguments) returns the assigned value or ``None``; so do ``get_boolean_assignment``,
  ``get_numeric_assignment``, ``get_json_string_assignment`` and
  ``get_parsed_json_assignment``.

Keyword arguments bind by name in both conventions, so ``flag_key=``/``subject_key=``
mean the same thing whichever form is used.
"""

from __future__ import annotations

import json
import logging
import struct
import threading
import weakref
from json.encoder import encode_basestring_ascii as _quote  # type: ignore[attr-defined]
from typing import Any, Dict, Optional, Set, Tuple

from .. import _native
from .._fork import register_fork_child
from .._native import AllotError, AllotTimeoutError, NotStartedError
from .assignment_logger import AssignmentLogger
from .config import ClientConfig, Config, Configuration

__all__ = [
    "AssignmentLogger",
    "ClientConfig",
    "Config",
    "Configuration",
    "EppoClient",
    "EvaluationResult",
    "get_instance",
    "init",
]

logger = logging.getLogger("allot")

_MISSING: Any = object()
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.JSONDecoder().decode


class EvaluationResult:
    """What ``*_assignment_details`` return: the ``variation`` (value), ``action``
    (bandits; always ``None`` here) and the ``evaluation_details`` document."""

    __slots__ = ("variation", "action", "evaluation_details")

    def __init__(self, variation: Any, action: Optional[str], evaluation_details: Any) -> None:
        self.variation = variation
        self.action = action
        self.evaluation_details = evaluation_details

    def __repr__(self) -> str:
        return (
            f"EvaluationResult(variation={self.variation!r}, action={self.action!r}, "
            f"evaluation_details={self.evaluation_details!r})"
        )


_scan = json.JSONDecoder().raw_decode
_HEAD = '{"ok":{"value":'
_VARIATION_KEY = ',"variation_key":'


def _head(text: str) -> Optional[Dict[str, Any]]:
    """Decodes only ``value`` and ``variation_key`` of a result (the events are not needed
    when no logger is set); ``None`` when the text is not a result in the usual order."""
    if not text.startswith(_HEAD):
        return None
    try:
        value, end = _scan(text, len(_HEAD))
        if not text.startswith(_VARIATION_KEY, end):
            return None
        variation_key, _ = _scan(text, end + len(_VARIATION_KEY))
    except ValueError:
        return None
    return {"value": value, "variation_key": variation_key}


# The fast lane (allot_eppo_assign): variation type numbers, and the Python types of a
# default the library would accept for each (other defaults take the JSON path, which
# reports them as it always did).
_TYPE_INDEX = {"STRING": 0, "INTEGER": 1, "NUMERIC": 2, "BOOLEAN": 3, "JSON": 4}
_length = struct.Struct("<I").unpack_from
_VERSION = _native.version()


def _default_fits(variation_type: str, default: Any) -> bool:
    kind = type(default)
    if variation_type == "STRING":
        return kind is str
    if variation_type == "BOOLEAN":
        return kind is bool
    if variation_type == "INTEGER":
        return kind is int
    if variation_type == "NUMERIC":
        return kind is int or (kind is float and default == default and abs(default) != float("inf"))
    return True


def _number(text: str) -> Any:
    """A JSON number as ``json`` decodes it."""
    if "." in text or "e" in text or "E" in text:
        return float(text)
    return int(text)


def _fresh(attributes: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """A copy of the attributes as the JSON path's event carries them (decoded anew)."""
    if not attributes:
        return {}
    if any(isinstance(v, (dict, list)) for v in attributes.values()):
        return _loads(_dumps(attributes))
    return dict(attributes)


_NEW = ("flag_key", "subject_key", "subject_attributes", "default")
_OLD = ("subject_key", "flag_key", "subject_attributes")


def _bind(
    method: str, args: Tuple[Any, ...], kwargs: Dict[str, Any], legacy: bool
) -> Tuple[str, str, Optional[Dict[str, Any]], Any]:
    """Binds a call to (flag_key, subject_key, subject_attributes, default); ``default``
    is ``_MISSING`` in the older convention."""
    modern = len(args) >= 4 or "default" in kwargs or not legacy
    names = _NEW if modern else _OLD
    if len(args) > len(names):
        raise TypeError(f"{method}() takes at most {len(names)} arguments ({len(args)} given)")
    bound: Dict[str, Any] = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in _NEW:
            raise TypeError(f"{method}() got an unexpected keyword argument '{key}'")
        if key in bound:
            raise TypeError(f"{method}() got multiple values for argument '{key}'")
        bound[key] = value
    for required in ("flag_key", "subject_key") + (("subject_attributes", "default") if modern else ()):
        if required not in bound:
            raise TypeError(f"{method}() missing required argument: '{required}'")
    return (
        bound["flag_key"],
        bound["subject_key"],
        bound.get("subject_attributes"),
        bound.get("default", _MISSING),
    )


class EppoClient:
    """An Eppo client: assignments are evaluated by liballot on the Universal Flag
    Configuration it polls (or was given); assignment events go to the logger."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._assignment_logger = config.assignment_logger or AssignmentLogger()
        self._logs = type(self._assignment_logger).log_assignment is not AssignmentLogger.log_assignment
        self._is_graceful_mode = bool(config.is_graceful_mode)
        self._id = _native.init(config._to_json())
        self._finalizer = weakref.finalize(self, _native.free, self._id)
        try:
            _native.start(self._id, 0)  # non-blocking: loading goes on in the background
        except AllotTimeoutError:
            pass
        except AllotError as e:
            logger.error("allot: Eppo client failed to start: %s", e)

    # -- assignments -----------------------------------------------------------------

    def _assign(
        self,
        variation_type: str,
        flag_key: str,
        subject_key: str,
        subject_attributes: Optional[Dict[str, Any]],
        default: Any,
        details: bool = False,
    ) -> Optional[Dict[str, Any]]:
        """Evaluates one assignment; returns the result document, or ``None`` when a
        graceful-mode error was logged."""
        try:
            request = (
                '{"flag_key":'
                + _quote(flag_key)
                + ',"subject_key":'
                + _quote(subject_key)
                + ',"subject_attributes":'
                + (_dumps(subject_attributes) if subject_attributes else "{}")
                + ',"variation_type":"'
                + variation_type
                + '","default":'
                + _dumps(default)
                + (',"details":true}' if details else "}")
            ).encode("utf-8")
            text = _native.evaluate_raw(self._id, request).decode("utf-8")
            result = None if (self._logs or details) else _head(text)
            if result is None:
                doc = _loads(text)
                result = doc.get("ok")
                if result is None:
                    raise _native.error_from(doc.get("error"))
        except NotStartedError:
            logger.debug("allot: Eppo client not initialized; returning the default")
            return None
        except (AllotError, TypeError, ValueError) as e:
            if not self._is_graceful_mode:
                raise
            logger.error("allot: assignment of %r failed, returning the default: %s", flag_key, e)
            return None
        events = result.get("events")
        if events and self._logs:
            log = self._assignment_logger.log_assignment
            for event in events:
                try:
                    log(event)
                except Exception:  # noqa: BLE001 - a logger never breaks an assignment
                    logger.exception("allot: the assignment logger raised; event dropped")
        return result

    def _fast(
        self,
        variation_type: str,
        flag_key: Any,
        subject_key: Any,
        subject_attributes: Optional[Dict[str, Any]],
    ) -> Tuple[bool, Any]:
        """One assignment through the fast lane: ``(True, value)`` when a variation is
        served, ``(False, None)`` when the default applies (no match, or a graceful-mode
        error that was logged). Events go to the logger as the JSON path gives them."""
        try:
            data = _native.eppo_assign(
                self._id,
                flag_key.encode("utf-8"),
                subject_key.encode("utf-8"),
                _dumps(subject_attributes).encode("utf-8") if subject_attributes else None,
                _TYPE_INDEX[variation_type],
                self._logs,
            )
        except NotStartedError:
            logger.debug("allot: Eppo client not initialized; returning the default")
            return False, None
        except (AllotError, TypeError, ValueError) as e:
            if not self._is_graceful_mode:
                raise
            logger.error("allot: assignment of %r failed, returning the default: %s", flag_key, e)
            return False, None
        fields = []
        at = 1
        while at < len(data):
            (n,) = _length(data, at)
            fields.append(data[at + 4 : at + 4 + n].decode("utf-8"))
            at += 4 + n
        flags = data[0]
        if not flags & 1:
            return False, None
        _code, text, variation_key, allocation_key = fields[:4]
        if variation_type == "STRING":
            value: Any = text
        elif variation_type == "BOOLEAN":
            value = text == "true"
        elif variation_type == "JSON":
            value = _loads(text)
        else:
            value = _number(text)
        if flags & 2:
            timestamp, extra = fields[4:6]
            event = {
                "featureFlag": flag_key,
                "allocation": allocation_key,
                "experiment": flag_key + "-" + allocation_key,
                "variation": variation_key,
                "subject": subject_key,
                "subjectAttributes": _fresh(subject_attributes),
                "timestamp": timestamp,
                "metaData": {"sdkName": "allot", "sdkVersion": _VERSION, "coreVersion": _VERSION},
            }
            if extra:
                event.update(_loads(extra))
            try:
                self._assignment_logger.log_assignment(event)
            except Exception:  # noqa: BLE001 - a logger never breaks an assignment
                logger.exception("allot: the assignment logger raised; event dropped")
        return True, value

    def _typed(self, method: str, variation_type: str, args: Any, kwargs: Any, legacy_default: Any) -> Any:
        if len(args) == 4 and not kwargs:  # the usual call: what _bind would give, sooner
            flag_key, subject_key, attributes, default = args
        else:
            flag_key, subject_key, attributes, default = _bind(method, args, kwargs, legacy_default is not _MISSING)
        fast = (
            type(flag_key) is str
            and type(subject_key) is str
            and "\0" not in flag_key
            and "\0" not in subject_key
            and (attributes is None or type(attributes) is dict)
        )
        if fast and default is _MISSING:
            return self._fast(variation_type, flag_key, subject_key, attributes)[1]
        if fast and _default_fits(variation_type, default):
            served, value = self._fast(variation_type, flag_key, subject_key, attributes)
            if served:
                return value
            # As through JSON: a container default comes back as a fresh copy.
            return _loads(_dumps(default)) if isinstance(default, (dict, list)) else default
        if default is _MISSING:  # the older convention: the value or None
            result = self._assign(variation_type, flag_key, subject_key, attributes, legacy_default)
            if result is None or result.get("variation_key") is None:
                return None
            return result["value"]
        result = self._assign(variation_type, flag_key, subject_key, attributes, default)
        return default if result is None else result["value"]

    def get_string_assignment(self, *args: Any, **kwargs: Any) -> Any:
        """``(flag_key, subject_key, subject_attributes, default)`` → value or default;
        ``(subject_key, flag_key, subject_attributes=None)`` → value or ``None``."""
        return self._typed("get_string_assignment", "STRING", args, kwargs, "")

    def get_boolean_assignment(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`get_string_assignment`, for BOOLEAN flags."""
        return self._typed("get_boolean_assignment", "BOOLEAN", args, kwargs, False)

    def get_numeric_assignment(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`get_string_assignment`, for NUMERIC flags."""
        return self._typed("get_numeric_assignment", "NUMERIC", args, kwargs, 0.0)

    def get_integer_assignment(
        self, flag_key: str, subject_key: str, subject_attributes: Optional[Dict[str, Any]], default: int
    ) -> int:
        """The INTEGER value assigned to the subject, or ``default``."""
        return self._typed(
            "get_integer_assignment", "INTEGER", (flag_key, subject_key, subject_attributes, default), {}, _MISSING
        )

    def get_json_assignment(
        self, flag_key: str, subject_key: str, subject_attributes: Optional[Dict[str, Any]], default: Any
    ) -> Any:
        """The JSON value (parsed) assigned to the subject, or ``default``."""
        return self._typed(
            "get_json_assignment", "JSON", (flag_key, subject_key, subject_attributes, default), {}, _MISSING
        )

    def get_json_string_assignment(
        self, subject_key: str, flag_key: str, subject_attributes: Optional[Dict[str, Any]] = None
    ) -> Optional[str]:
        """Older convention: the JSON value as a JSON string, or ``None``."""
        value = self._typed("get_json_string_assignment", "JSON", (subject_key, flag_key, subject_attributes), {}, {})
        return None if value is None else json.dumps(value)

    def get_parsed_json_assignment(
        self, subject_key: str, flag_key: str, subject_attributes: Optional[Dict[str, Any]] = None
    ) -> Any:
        """Older convention: the JSON value parsed, or ``None``."""
        return self._typed("get_parsed_json_assignment", "JSON", (subject_key, flag_key, subject_attributes), {}, {})

    # -- details ---------------------------------------------------------------------

    def _details(
        self, variation_type: str, flag_key: str, subject_key: str, subject_attributes: Any, default: Any
    ) -> EvaluationResult:
        result = self._assign(variation_type, flag_key, subject_key, subject_attributes, default, details=True)
        if result is None:
            return EvaluationResult(default, None, None)
        return EvaluationResult(result["value"], None, result.get("details"))

    def get_string_assignment_details(
        self, flag_key: str, subject_key: str, subject_attributes: Optional[Dict[str, Any]], default: str
    ) -> EvaluationResult:
        return self._details("STRING", flag_key, subject_key, subject_attributes, default)

    def get_integer_assignment_details(
        self, flag_key: str, subject_key: str, subject_attributes: Optional[Dict[str, Any]], default: int
    ) -> EvaluationResult:
        return self._details("INTEGER", flag_key, subject_key, subject_attributes, default)

    def get_numeric_assignment_details(
        self, flag_key: str, subject_key: str, subject_attributes: Optional[Dict[str, Any]], default: float
    ) -> EvaluationResult:
        return self._details("NUMERIC", flag_key, subject_key, subject_attributes, default)

    def get_boolean_assignment_details(
        self, flag_key: str, subject_key: str, subject_attributes: Optional[Dict[str, Any]], default: bool
    ) -> EvaluationResult:
        return self._details("BOOLEAN", flag_key, subject_key, subject_attributes, default)

    def get_json_assignment_details(
        self, flag_key: str, subject_key: str, subject_attributes: Optional[Dict[str, Any]], default: Any
    ) -> EvaluationResult:
        return self._details("JSON", flag_key, subject_key, subject_attributes, default)

    # -- state -----------------------------------------------------------------------

    def status(self) -> Dict[str, Any]:
        """allot extension: the native client's status document."""
        return _native.status(self._id)

    def get_flag_keys(self) -> Set[str]:
        """The keys of the flags in the current configuration."""
        status = self.status()
        if "flag_keys" not in status:
            raise _native.UnsupportedError(
                "unsupported", 'this liballot does not report flag keys (no "flag_keys" in its status)'
            )
        return set(status["flag_keys"])

    def is_initialized(self) -> bool:
        """Whether a configuration has been loaded."""
        try:
            return bool(self.status().get("initialized"))
        except AllotError:
            return False

    def wait_for_initialization(self, timeout: Optional[float] = None) -> None:
        """Blocks until a configuration is loaded. ``timeout`` (seconds) bounds the wait:
        ``AllotTimeoutError`` (a ``TimeoutError``) when it passes; ``None`` waits forever.
        Other failures (e.g. ``UnauthorizedError``) are raised at once."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.is_initialized():
                return
            chunk = 1000.0
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AllotTimeoutError("timeout", f"no configuration after {timeout} s")
                chunk = min(chunk, remaining * 1000.0)
            try:
                _native.start(self._id, int(chunk))
            except AllotTimeoutError:
                continue
            if not self.is_initialized():
                time.sleep(min(chunk, 50.0) / 1000.0)

    def set_is_graceful_mode(self, is_graceful_mode: bool) -> None:
        """Graceful mode (the default) returns defaults instead of raising on errors."""
        self._is_graceful_mode = bool(is_graceful_mode)

    def shutdown(self) -> None:
        """Stops polling and frees the native client."""
        self._finalizer()


_instance_lock = threading.Lock()
_instance: Optional[EppoClient] = None


def init(config: Config) -> EppoClient:
    """Creates the singleton client (shutting down a previous one) and returns it.
    Loading the configuration does not block; see ``wait_for_initialization``."""
    global _instance
    client = EppoClient(config)
    with _instance_lock:
        previous, _instance = _instance, client
    if previous is not None:
        previous.shutdown()
    return client


def get_instance() -> EppoClient:
    """The singleton client created by :func:`init`."""
    with _instance_lock:
        if _instance is None:
            raise RuntimeError("allot.eppo: call init(Config(...)) before get_instance()")
        return _instance


def _after_fork_in_child() -> None:
    global _instance_lock
    _instance_lock = threading.Lock()


register_fork_child(_after_fork_in_child)
