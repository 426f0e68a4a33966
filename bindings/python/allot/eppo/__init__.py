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
import marshal
import math
import struct
import threading
import time
import weakref
from json.encoder import encode_basestring_ascii as _quote  # type: ignore[attr-defined]
from typing import Any, Dict, Optional, Set, Tuple, Union

from .. import _native
from .._fork import register_fork_child
from .._native import AllotError, AllotTimeoutError
from .assignment_logger import AssignmentCacheLogger, AssignmentLogger
from .config import ClientConfig, Config, Configuration
from .context import ContextAttributes, attributes_json

__version__ = "0.1.0"

#: A subject attribute value, and the attributes (as the SDK's type aliases).
Attribute = Union[str, int, float, bool, None]
Attributes = Dict[str, Attribute]

__all__ = [
    "AssignmentCacheLogger",
    "AssignmentLogger",
    "Attribute",
    "Attributes",
    "BanditResult",
    "ClientConfig",
    "Config",
    "Configuration",
    "ContextAttributes",
    "EppoClient",
    "EvaluationResult",
    "__version__",
    "get_instance",
    "init",
]

#: The SDK's logger name: records go where a program configured for the SDK expects them.
logger = logging.getLogger("eppo")

_MISSING: Any = object()
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.JSONDecoder().decode
_dumps_finite = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite number replaced by ``None`` (JSON cannot
    carry them; Eppo scores them as missing values)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


class EvaluationResult:
    """What ``*_assignment_details`` and the bandit methods return: the ``variation``
    (value), the bandit's ``action`` (``None`` outside bandits) and the
    ``evaluation_details`` document (``None`` unless details were asked for)."""

    __slots__ = ("variation", "action", "evaluation_details")

    def __init__(self, variation: Any, action: Optional[str] = None, evaluation_details: Any = None) -> None:
        self.variation = variation
        self.action = action
        self.evaluation_details = evaluation_details

    def to_string(self) -> str:
        """The action when there is one, else the variation, as a string."""
        return str(self.action) if self.action is not None else str(self.variation)

    def __str__(self) -> str:
        return self.__repr__()

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
#: An event's ``metaData`` (each event gets its own copy).
_META = {"sdkName": "allot", "sdkVersion": _VERSION, "coreVersion": _VERSION}
_buffers = _native.buffers
_eppo_assign_into = _native.eppo_assign_into
_eppo_assign = _native.eppo_assign_raw
_eppo_assign_marshal = _native.eppo_assign_marshal_raw
_marshal = marshal.dumps
_sizes = _native.sizes


def _number(text: str) -> Any:
    """A JSON number as ``json`` decodes it."""
    if "." in text or "e" in text or "E" in text:
        return float(text)
    return int(text)


#: What ``EppoClient._fast`` answers when the default applies, and when the JSON path
#: is to answer.
_DEFAULT: Any = object()
_FALLBACK: Any = object()
#: The codes of answers without a variation or an event, by answer bytes (the flags
#: byte and the code: a handful of distinct answers).
_UNSERVED: Dict[bytes, str] = {}
#: Decoded answers a client keeps per variation type before starting afresh.
_MAX_ANSWERS = 4096
#: Event members the fast lane fills in per call.
_EVENT_KEYS = frozenset(
    ("featureFlag", "allocation", "experiment", "variation", "subject", "subjectAttributes", "timestamp", "metaData")
)


class _Answer:
    """A fast-lane answer decoded once: the evaluation ``code``; ``value`` (``_DEFAULT``
    when nothing is served; JSON text for JSON flags, decoded anew per call); and for an
    answer with an event, its ``template`` (every member but the per-call ones, in the
    JSON path's order) and ``extra``, extra logging to decode per call when a template
    cannot hold it (nested values, or keys that override the fixed members)."""

    __slots__ = ("code", "value", "template", "extra")

    def __init__(self, variation_type: str, flag_key: str, data: bytes) -> None:
        fields = []
        at = 1
        while at < len(data):
            (n,) = _length(data, at)
            fields.append(data[at + 4 : at + 4 + n].decode("utf-8"))
            at += 4 + n
        event = data[0] & 2
        if event:
            fields.pop(0)  # the timestamp
        self.code = fields[0]
        self.value: Any = _DEFAULT
        self.template: Dict[str, Any] = {}
        self.extra: Optional[str] = None
        if not data[0] & 1:
            return
        text, variation_key, allocation_key = fields[1:4]
        if variation_type in ("STRING", "JSON"):
            self.value = text
        elif variation_type == "BOOLEAN":
            self.value = text == "true"
        else:
            self.value = _typed_value(variation_type, _number(text))
        if event:
            self.template = {
                "featureFlag": flag_key,
                "allocation": allocation_key,
                "experiment": flag_key + "-" + allocation_key,
                "variation": variation_key,
                "subject": None,
                "subjectAttributes": None,
                "timestamp": None,
                "metaData": None,
            }
            extra = fields[4]
            if extra:
                members = _loads(extra)
                if _EVENT_KEYS.isdisjoint(members) and not any(isinstance(v, (dict, list)) for v in members.values()):
                    self.template.update(members)
                else:
                    self.extra = extra


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


#: What each typed call accepts as its default (the SDK's argument conversion).
_DEFAULT_TYPES: Dict[str, Tuple[type, ...]] = {
    "STRING": (str,),
    "INTEGER": (int,),
    "NUMERIC": (float,),
    "BOOLEAN": (bool,),
}
_CASTS = {"str": "str", "int": "int", "float": "float", "bool": "bool"}
_TYPE_NAMES = {"STRING": "String", "INTEGER": "Integer", "NUMERIC": "Numeric", "BOOLEAN": "Boolean", "JSON": "Json"}
#: Result codes the SDK reports as evaluation errors (warned, or raised without graceful mode).
_ERROR_CODES = frozenset(("TYPE_MISMATCH", "ASSIGNMENT_ERROR", "UNEXPECTED_CONFIGURATION_ERROR"))
#: Codes the SDK warns about (see :meth:`EppoClient._report`); others pass silently.
_REPORTED = _ERROR_CODES | {"CONFIGURATION_MISSING"}


def _cast_error(argument: str, value: Any, target: str) -> TypeError:
    return TypeError(f"argument '{argument}': '{type(value).__name__}' object cannot be cast as '{target}'")


def _check(
    variation_type: str, flag_key: Any, subject_key: Any, attributes: Any, default: Any, legacy: bool
) -> Dict[str, Any]:
    """The SDK's argument checks (``TypeError``, whatever the graceful mode); returns the
    attributes with integers as floats, as the SDK passes them on."""
    if not isinstance(flag_key, str):
        raise _cast_error("flag_key", flag_key, "str")
    if not isinstance(subject_key, str):
        raise _cast_error("subject_key", subject_key, "str")
    if attributes is None and legacy:
        attributes = {}
    if not isinstance(attributes, dict):
        raise _cast_error("subject_attributes", attributes, "dict")
    converted: Dict[str, Any] = {}
    for key, value in attributes.items():
        if type(key) is not str and not isinstance(key, str):
            raise _cast_error("subject_attributes", key, "str")
        kind = type(value)
        if kind is int:
            value = float(value)
        elif not (kind is str or kind is float or value is None or isinstance(value, (str, float, bool))):
            raise TypeError("argument 'subject_attributes': invalid type for subject attribute value")
        converted[key] = value
    accepted = _DEFAULT_TYPES.get(variation_type)
    if not legacy and accepted is not None:
        bad_bool = variation_type in ("NUMERIC", "STRING") and isinstance(default, bool)
        if bad_bool or not isinstance(default, accepted) or (variation_type == "BOOLEAN" and type(default) is not bool):
            raise _cast_error("default", default, accepted[0].__name__)
    return converted


#: Attribute value types the SDK passes on unchanged (``int`` becomes ``float``).
_PLAIN_VALUES = frozenset((str, float, bool, type(None)))


def _assignment(method: str, variation_type: str, default_type: type, legacy_default: Any, doc: str) -> Any:
    """A ``get_*_assignment`` method (``legacy_default``: what the older convention sends
    as the default, ``_MISSING`` where there is none) and the fast lane it ends in
    (``allot_eppo_assign``).

    A call in the current convention, positionally, with arguments of exactly the SDK's
    types (the common case) is checked inline; every other call is bound, checked and
    converted by :meth:`EppoClient._checked`. Either way the lane gets the attributes as
    a fresh dict, integers as floats. The common call is inline too: attributes as
    marshal bytes (or none) and an answer that fits this thread's buffer; anything else
    goes through :func:`_native.eppo_assign_into`, and what the lane cannot carry (keys
    with NUL bytes, attributes the library refuses) through the JSON path. Decoded
    answers are cached per client under (flag key, answer bytes after the timestamp);
    events go to the logger as the JSON path gives them."""
    kind = _TYPE_INDEX[variation_type]
    json_values = variation_type == "JSON"

    def get(self: EppoClient, *args: Any, **kwargs: Any) -> Any:
        checked = None
        if len(args) == 4 and not kwargs:
            flag_key, subject_key, attributes, default = args
            if (
                type(default) is default_type
                and type(flag_key) is str
                and type(subject_key) is str
                and type(attributes) is dict
            ):
                if attributes:
                    checked = attributes.copy()
                    for key, value in attributes.items():
                        if type(key) is not str:
                            checked = None
                            break
                        value_type = type(value)
                        if value_type is int:
                            checked[key] = float(value)
                        elif value_type not in _PLAIN_VALUES:
                            checked = None
                            break
                else:
                    checked = attributes  # empty: an event gets a fresh {}
        if checked is None:
            flag_key, subject_key, checked, default = self._checked(
                method, variation_type, args, kwargs, legacy_default
            )
        if "\0" in flag_key or "\0" in subject_key:
            return self._json_typed(variation_type, flag_key, subject_key, checked, default, legacy_default)
        buf, capacity, size = _buffers.state
        flag, subject = flag_key.encode(), subject_key.encode()
        logs = self._logs
        n = -1
        if not checked:
            n = _eppo_assign(self._handle_arg, flag, subject, None, kind, logs, buf, capacity)
        elif _eppo_assign_marshal is not None:
            try:
                packed = _marshal(checked, 2)
            except ValueError:  # a type marshal does not write (eppo_assign_into sends JSON)
                pass
            else:
                length = len(packed)
                if length < 1024:
                    n = _eppo_assign_marshal(
                        self._handle_arg, flag, subject, packed, _sizes[length], kind, logs, buf, capacity
                    )
        if 0 < n <= size:
            data = buf[:n]
        else:
            handle = self._handle_arg
            try:
                n, sent = _eppo_assign_into(handle, flag, subject, checked, kind, logs)
                b = _buffers
                data = b.buf[:n] if 0 < n <= b.size else _native.eppo_assign(handle, flag, subject, sent, kind, logs, n)
            except _native.NotStartedError:
                logger.warning("evaluating a flag before Eppo configuration has been fetched")
                return None if default is _MISSING else default
            except (AllotError, ValueError):
                return self._json_typed(variation_type, flag_key, subject_key, checked, default, legacy_default)
        if data[0] == 0:  # no variation and no event: the default, with the code's warning
            code = _UNSERVED.get(data)
            if code is None:
                code = _UNSERVED[data] = _Answer(variation_type, flag_key, data).code
            if code in _REPORTED:
                self._report(code, variation_type, flag_key, False)
            return None if default is _MISSING else default
        if data[0] & 2:
            (n,) = _length(data, 1)
            timestamp = data[5 : 5 + n].decode()
            key = (flag_key, data[5 + n :])
        else:
            timestamp = None
            key = (flag_key, data)
        answers = self._answers[variation_type]
        answer = answers.get(key)
        if answer is None:
            answer = _Answer(variation_type, flag_key, data)
            if len(answers) >= _MAX_ANSWERS:  # configurations change: stay bounded
                answers = self._answers[variation_type] = {}
            answers[key] = answer
        value = answer.value
        if value is _DEFAULT:
            self._report(answer.code, variation_type, flag_key, False)
            return None if default is _MISSING else default
        if timestamp is not None:
            event = answer.template.copy()
            event["subject"] = subject_key
            event["subjectAttributes"] = checked or {}
            event["timestamp"] = timestamp
            event["metaData"] = _META.copy()
            if answer.extra is not None:  # extra logging that needs fresh copies
                event.update(_loads(answer.extra))
            try:
                self._assignment_logger.log_assignment(event)
            except Exception as e:  # noqa: BLE001 - a logger never breaks an assignment
                logger.warning(f"error logging assignment event: {e}")
        return _loads(value) if json_values else value

    get.__name__ = get.__qualname__ = method
    get.__doc__ = doc
    return get


class _AnyDefault:
    """The default type of JSON calls: no value has it, so that every JSON call is
    checked by :meth:`EppoClient._checked` (a JSON default may be of any type)."""


#: The calls behind the methods that spell out their signature: the current
#: convention's INTEGER and JSON calls, and the older convention's JSON calls.
_get_integer = _assignment("get_integer_assignment", "INTEGER", int, _MISSING, "")
_get_json = _assignment("get_json_assignment", "JSON", _AnyDefault, _MISSING, "")
_get_json_string = _assignment("get_json_string_assignment", "JSON", _AnyDefault, {}, "")
_get_parsed_json = _assignment("get_parsed_json_assignment", "JSON", _AnyDefault, {}, "")


class EppoClient:
    """An Eppo client: assignments are evaluated by liballot on the Universal Flag
    Configuration it polls (or was given); assignment events go to the logger. Obtain it
    from :func:`init` (or :func:`get_instance`)."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._assignment_logger = config.assignment_logger or AssignmentLogger()
        self._logs = type(self._assignment_logger).log_assignment is not AssignmentLogger.log_assignment
        logs_bandits = getattr(type(self._assignment_logger), "log_bandit_action", AssignmentLogger.log_bandit_action)
        self._logs_bandits = logs_bandits is not AssignmentLogger.log_bandit_action
        self._is_graceful_mode = bool(config.is_graceful_mode)
        self._id = _native.init(config._to_json())
        self._handle_arg = _native.handle_arg(self._id)
        #: Decoded fast-lane answers by variation type, under (flag key, answer bytes
        #: after the timestamp); entries are never changed, only dropped wholesale.
        self._answers: Dict[str, Dict[Tuple[str, bytes], _Answer]] = {t: {} for t in _TYPE_INDEX}
        self._finalizer = weakref.finalize(self, _native.free, self._id)
        self._started()

    def _started(self) -> None:
        try:
            _native.start(self._id, 0)  # non-blocking: loading goes on in the background
        except AllotTimeoutError:
            pass
        except AllotError as e:
            logger.error(f"failed to start the configuration poller: {e}")

    # -- assignments -----------------------------------------------------------------

    def _assign(
        self,
        variation_type: str,
        flag_key: str,
        subject_key: str,
        subject_attributes: Optional[Dict[str, Any]],
        default: Any,
        details: bool = False,
        legacy: bool = False,
    ) -> Optional[Dict[str, Any]]:
        """Evaluates one assignment; returns the result document, or ``None`` when the
        default is to be returned (an error was logged)."""
        attributes = _check(variation_type, flag_key, subject_key, subject_attributes, default, legacy)
        request = (
            '{"flag_key":'
            + _quote(flag_key)
            + ',"subject_key":'
            + _quote(subject_key)
            + ',"subject_attributes":'
            + (_dumps(attributes) if attributes else "{}")
            + ',"variation_type":"'
            + variation_type
            + '","default":'
            + _dumps(default if _encodable(default) else None)
            + (',"details":true}' if details else "}")
        ).encode("utf-8")
        text = _native.evaluate_raw(self._id, request).decode("utf-8")
        result = None if (self._logs or details) else _head(text)
        if result is None or result["variation_key"] is None:  # no match: the code matters
            doc = _loads(text)
            result = doc.get("ok")
            if result is None:
                error = _native.error_from(doc.get("error"))
                if isinstance(error, _native.NotStartedError):
                    logger.warning("evaluating a flag before Eppo configuration has been fetched")
                    return None
                raise error
        self._report(result.get("code"), variation_type, flag_key, details)
        events = result.get("events")
        if events and self._logs:
            log = self._assignment_logger.log_assignment
            for event in events:
                if details and "details" in result:
                    event["evaluationDetails"] = _vendor_details(result["details"], variation_type)
                try:
                    log(event)
                except Exception as e:  # noqa: BLE001 - a logger never breaks an assignment
                    logger.warning(f"error logging assignment event: {e}")
        return result

    def _report(self, code: Any, variation_type: str, flag_key: str, details: bool) -> None:
        """The SDK's warnings (and, outside graceful mode, errors) for an evaluation code."""
        if code in _ERROR_CODES:
            message = f"invalid flag type (expected: {_TYPE_NAMES.get(variation_type, variation_type)})"
            if code != "TYPE_MISMATCH":
                message = f"{code.lower().replace('_', ' ')} for flag {flag_key}"
            logger.warning(f"error occurred while evaluating a flag: {message}")
            if not (self._is_graceful_mode or details):
                raise RuntimeError(message)
        elif code == "CONFIGURATION_MISSING":
            logger.warning("evaluating a flag before Eppo configuration has been fetched")

    def _checked(
        self, method: str, variation_type: str, args: Any, kwargs: Any, legacy_default: Any
    ) -> Tuple[str, str, Dict[str, Any], Any]:
        """A ``get_*_assignment`` call's arguments bound (either convention) and checked
        as the SDK checks them (its ``TypeError``s): flag key, subject key, the
        attributes as :func:`_check` converts them, and the default (``_MISSING`` in the
        older convention)."""
        if len(args) == 4 and not kwargs:  # the current convention, positionally: _bind's answer
            flag_key, subject_key, attributes, default = args
        else:
            flag_key, subject_key, attributes, default = _bind(method, args, kwargs, legacy_default is not _MISSING)
        legacy = default is _MISSING
        checked = _check(variation_type, flag_key, subject_key, attributes, None if legacy else default, legacy)
        return flag_key, subject_key, checked, default

    def _json_typed(
        self, variation_type: str, flag_key: str, subject_key: str, attributes: Any, default: Any, legacy_default: Any
    ) -> Any:
        """A ``get_*_assignment`` call through the JSON path (arguments already checked)."""
        if default is _MISSING:  # the older convention: the value or None
            result = self._assign(variation_type, flag_key, subject_key, attributes, legacy_default, legacy=True)
            if result is None or result.get("variation_key") is None:
                return None
            return _typed_value(variation_type, result["value"])
        sent = int(default) if variation_type == "INTEGER" and type(default) is bool else default
        result = self._assign(variation_type, flag_key, subject_key, attributes, sent)
        if result is None or result.get("variation_key") is None:
            return default
        return _typed_value(variation_type, result["value"])

    get_string_assignment = _assignment(
        "get_string_assignment",
        "STRING",
        str,
        "",
        """``(flag_key, subject_key, subject_attributes, default)`` → value or default;
        ``(subject_key, flag_key, subject_attributes=None)`` → value or ``None``.""",
    )
    get_boolean_assignment = _assignment(
        "get_boolean_assignment", "BOOLEAN", bool, False, "As :meth:`get_string_assignment`, for BOOLEAN flags."
    )
    get_numeric_assignment = _assignment(
        "get_numeric_assignment",
        "NUMERIC",
        float,
        0.0,
        "As :meth:`get_string_assignment`, for NUMERIC flags (values are ``float``).",
    )

    def get_integer_assignment(
        self, flag_key: str, subject_key: str, subject_attributes: Optional[Dict[str, Any]], default: int
    ) -> int:
        """The INTEGER value assigned to the subject, or ``default``."""
        return _get_integer(self, flag_key, subject_key, subject_attributes, default)

    def get_json_assignment(
        self, flag_key: str, subject_key: str, subject_attributes: Optional[Dict[str, Any]], default: Any
    ) -> Any:
        """The JSON value (parsed) assigned to the subject, or ``default``."""
        return _get_json(self, flag_key, subject_key, subject_attributes, default)

    def get_json_string_assignment(
        self, subject_key: str, flag_key: str, subject_attributes: Optional[Dict[str, Any]] = None
    ) -> Optional[str]:
        """Older convention: the JSON value as a JSON string, or ``None``."""
        value = _get_json_string(self, subject_key, flag_key, subject_attributes)
        return None if value is None else json.dumps(value)

    def get_parsed_json_assignment(
        self, subject_key: str, flag_key: str, subject_attributes: Optional[Dict[str, Any]] = None
    ) -> Any:
        """Older convention: the JSON value parsed, or ``None``."""
        return _get_parsed_json(self, subject_key, flag_key, subject_attributes)

    # -- details ---------------------------------------------------------------------

    def _details(
        self, variation_type: str, flag_key: str, subject_key: str, subject_attributes: Any, default: Any
    ) -> EvaluationResult:
        result = self._assign(variation_type, flag_key, subject_key, subject_attributes, default, details=True)
        if result is None:
            return EvaluationResult(default, None, None)
        value = default if result.get("variation_key") is None else _typed_value(variation_type, result["value"])
        details = result.get("details")
        return EvaluationResult(value, None, None if details is None else _vendor_details(details, variation_type))

    def get_string_assignment_details(
        self, flag_key: str, subject_key: str, subject_attributes: Optional[Dict[str, Any]], default: str
    ) -> EvaluationResult:
        """The value (or default) and the evaluation details document."""
        return self._details("STRING", flag_key, subject_key, subject_attributes, default)

    def get_integer_assignment_details(
        self, flag_key: str, subject_key: str, subject_attributes: Optional[Dict[str, Any]], default: int
    ) -> EvaluationResult:
        """As :meth:`get_string_assignment_details`, for INTEGER flags."""
        return self._details("INTEGER", flag_key, subject_key, subject_attributes, default)

    def get_numeric_assignment_details(
        self, flag_key: str, subject_key: str, subject_attributes: Optional[Dict[str, Any]], default: float
    ) -> EvaluationResult:
        """As :meth:`get_string_assignment_details`, for NUMERIC flags."""
        return self._details("NUMERIC", flag_key, subject_key, subject_attributes, default)

    def get_boolean_assignment_details(
        self, flag_key: str, subject_key: str, subject_attributes: Optional[Dict[str, Any]], default: bool
    ) -> EvaluationResult:
        """As :meth:`get_string_assignment_details`, for BOOLEAN flags."""
        return self._details("BOOLEAN", flag_key, subject_key, subject_attributes, default)

    def get_json_assignment_details(
        self, flag_key: str, subject_key: str, subject_attributes: Optional[Dict[str, Any]], default: Any
    ) -> EvaluationResult:
        """As :meth:`get_string_assignment_details`, for JSON flags."""
        return self._details("JSON", flag_key, subject_key, subject_attributes, default)

    # -- bandits ----------------------------------------------------------------------

    def _bandit(
        self,
        flag_key: str,
        subject_key: str,
        subject_context: Any,
        actions: Dict[str, Any],
        default: str,
        details: bool,
    ) -> EvaluationResult:
        try:
            request = {
                "flag_key": flag_key,
                "subject_key": subject_key,
                "subject_attributes": attributes_json(subject_context),
                "actions": {key: attributes_json(value) for key, value in actions.items()},
                "default": default,
            }
            if details:
                request["details"] = True
            try:
                body = _dumps_finite(request)
            except ValueError:  # NaN or infinite numbers: missing values, as Eppo scores them
                body = _dumps_finite(_finite(request))
            text = _native.evaluate_raw(self._id, body.encode("utf-8")).decode("utf-8")
            doc = _loads(text)
            result = doc.get("ok")
            if result is None:
                raise _native.error_from(doc.get("error"))
        except _native.NotStartedError:
            logger.warning("evaluating a flag before Eppo configuration has been fetched")
            return EvaluationResult(default, None, None)
        except (AllotError, TypeError, ValueError) as e:
            if not self._is_graceful_mode:
                raise
            logger.warning(f"error occurred while evaluating a bandit action of {flag_key}: {e}")
            return EvaluationResult(default, None, None)
        for events, log in (
            (result.get("events"), self._logs and self._assignment_logger.log_assignment),
            (result.get("bandit_events"), self._logs_bandits and self._assignment_logger.log_bandit_action),
        ):
            if not (log and events):
                continue
            for event in events:
                try:
                    log(event)
                except Exception as e:  # noqa: BLE001 - a logger never breaks an evaluation
                    logger.warning(f"error logging assignment event: {e}")
        return EvaluationResult(result["variation"], result["action"], result.get("details"))

    def get_bandit_action(
        self,
        flag_key: str,
        subject_key: str,
        subject_context: Any,
        actions: Dict[str, Any],
        default: str,
    ) -> EvaluationResult:
        """Assigns the STRING flag ``flag_key``; when the variation is a bandit, the bandit
        chooses one of ``actions`` (action key → ``ContextAttributes`` or attribute
        dictionary) for the subject (``subject_context``: the same). Returns
        ``BanditResult(variation, action)``; the assignment event goes to
        ``log_assignment``, the bandit event to ``log_bandit_action``."""
        return self._bandit(flag_key, subject_key, subject_context, actions, default, False)

    def get_bandit_action_details(
        self,
        flag_key: str,
        subject_key: str,
        subject_context: Any,
        actions: Dict[str, Any],
        default: str,
    ) -> EvaluationResult:
        """As :meth:`get_bandit_action`, with the ``evaluation_details`` document."""
        return self._bandit(flag_key, subject_key, subject_context, actions, default, True)

    def get_bandit_keys(self) -> Set[str]:
        """The keys of the bandit models being served."""
        return set(self.status().get("bandit_keys", ()))

    # -- state -----------------------------------------------------------------------

    def status(self) -> Dict[str, Any]:
        """allot extension: the native client's status document."""
        return _native.status(self._id)

    def get_flag_keys(self) -> Set[str]:
        """The keys of the flags in the current configuration."""
        try:
            return set(self.status().get("flag_keys", ()))
        except AllotError:
            return set()

    def get_configuration(self) -> Optional[Configuration]:
        """The configuration served now (given, set or fetched); ``None`` before the
        first one."""
        served = _native.configuration(self._id)
        if served["flags"] is None:
            return None
        bandits = served["bandits"]
        return Configuration(
            flags_configuration=json.dumps(served["flags"]),
            bandits_configuration=None if bandits is None else json.dumps(bandits),
        )

    def set_configuration(self, configuration: Configuration) -> None:
        """Replaces the flags (and bandits) configuration; polling, when configured, goes on."""
        old_id, old_finalizer = self._id, self._finalizer
        doc = self._config._to_json()
        doc["initial_configuration"] = configuration.flags_configuration
        doc.pop("initial_bandits", None)
        bandits = configuration.get_bandits_configuration()
        if bandits is not None:
            doc["initial_bandits"] = bandits.decode("utf-8")
        self._id = _native.init(doc)
        self._handle_arg = _native.handle_arg(self._id)
        self._finalizer = weakref.finalize(self, _native.free, self._id)
        self._started()
        old_finalizer.detach()
        _native.free(old_id)

    def is_initialized(self) -> bool:
        """Whether a configuration has been loaded."""
        try:
            return bool(self.status().get("initialized"))
        except AllotError:
            return False

    def wait_for_initialization(self, timeout: Optional[float] = None) -> None:
        """Blocks until a configuration is loaded, through transient failures (as the
        SDK); returns when the key is rejected. allot adds ``timeout`` (seconds):
        ``AllotTimeoutError`` (a ``TimeoutError``) when it passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_initialized():
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
            except _native.UnauthorizedError as e:
                logger.warning(f"failed to load the configuration: {e}")
                return
            except AllotError as e:
                logger.warning(f"failed to fetch the configuration: {e}")
                time.sleep(min(chunk, 50.0) / 1000.0)

    def set_is_graceful_mode(self, is_graceful_mode: bool) -> None:
        """Graceful mode (the default) returns defaults instead of raising on errors."""
        self._is_graceful_mode = bool(is_graceful_mode)

    def shutdown(self) -> None:
        """Stops polling for good. As the SDK, the client keeps serving assignments from
        the last configuration it loaded."""
        logger.info("shutting down client")
        _native.stop(self._id, 0)


def _encodable(value: Any) -> bool:
    try:
        _dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _typed_value(variation_type: str, value: Any) -> Any:
    """Values with the SDK's Python types: NUMERIC is always ``float``."""
    if variation_type == "NUMERIC" and type(value) is int:
        return float(value)
    return value


_VALUE_TYPES = {"STRING": "STRING", "INTEGER": "INTEGER", "NUMERIC": "NUMERIC", "BOOLEAN": "BOOLEAN", "JSON": "JSON"}


def _vendor_details(details: Dict[str, Any], variation_type: str) -> Dict[str, Any]:
    """The library's details document with ``variationValue`` as ``{type, value}``, as
    eppo-server-sdk 4.x gives it (allot's own keys stay)."""
    doc = dict(details)
    value = doc.get("variationValue")
    if doc.get("variationKey") is not None and value is not None:
        if variation_type == "NUMERIC" and type(value) is int:
            value = float(value)
        elif variation_type == "JSON" and isinstance(value, str):
            try:
                value = _loads(value)
            except ValueError:
                pass
        doc["variationValue"] = {"type": _VALUE_TYPES.get(variation_type, variation_type), "value": value}
    return doc


_instance_lock = threading.Lock()
_instance: Optional[EppoClient] = None


def init(config: Config) -> EppoClient:
    """Creates the singleton client and returns it; a previous one is shut down (and, as
    the SDK, keeps serving). Loading does not block; see ``wait_for_initialization``."""
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
            raise Exception("init() must be called before get_instance()")  # noqa: TRY002 - the SDK's type
        return _instance


def _after_fork_in_child() -> None:
    global _instance_lock
    _instance_lock = threading.Lock()


register_fork_child(_after_fork_in_child)

from .bandit import BanditResult  # noqa: E402 - needs EvaluationResult
