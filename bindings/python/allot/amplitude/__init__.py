"""Amplitude Experiment compatible API over liballot.

A program written for ``amplitude_experiment`` changes only its import line::

    from allot.amplitude import Experiment, User, LocalEvaluationConfig

Every module path of the SDK that holds a public name has its counterpart here
(``allot.amplitude.local.config``, ``allot.amplitude.remote.fetch_options``, …). Every
rule of evaluation, the HTTP clients, polling and retries live in the native library;
this module only converts arguments to JSON and results to ``Variant`` objects, and
reproduces the SDK's outcomes (return values, exceptions, log records under the
``Amplitude`` logger, deprecation warnings).
"""

from __future__ import annotations

import ctypes
import enum
import functools
import json
import logging
import marshal
import operator
import os
import re
import sys
import threading
import warnings
import weakref
from typing import Any, Callable, Collection, Dict, List, Optional, Tuple

from .. import _native
from .._fork import register_fork_child
from .._native import AllotError
from .._settings import Settings

__all__ = [
    "AmplitudeCookie",
    "AssignmentConfig",
    "CohortSyncConfig",
    "Config",
    "EvaluateOptions",
    "Experiment",
    "ExposureConfig",
    "FetchException",
    "FetchOptions",
    "LocalEvaluationClient",
    "LocalEvaluationConfig",
    "RemoteEvaluationClient",
    "RemoteEvaluationConfig",
    "ServerZone",
    "User",
    "Variant",
    "__version__",
]

#: The SDK's version string reports allot's version (allot identifies as itself).
__version__ = "0.1.0"

#: The SDK's logger: records go where a program configured for the SDK expects them.
LOGGER_NAME = "Amplitude"
logger = logging.getLogger(LOGGER_NAME)

DEFAULT_SERVER_URL = "https://api.lab.amplitude.com"
EU_SERVER_URL = "https://flag.lab.eu.amplitude.com"
DEFAULT_STREAM_URL = "https://stream.lab.amplitude.com"
EU_STREAM_SERVER_URL = "https://stream.lab.eu.amplitude.com"
REMOTE_EU_SERVER_URL = "https://api.lab.eu.amplitude.com"
#: The SDK's group type of user cohorts, and the de-duplication period of events.
USER_GROUP_TYPE = "User"
DAY_MILLIS = 86400000
DEFAULT_COHORT_SYNC_URL = "https://cohort-v2.lab.amplitude.com"
EU_COHORT_SYNC_URL = "https://cohort-v2.lab.eu.amplitude.com"


class ServerZone(enum.Enum):
    """The Amplitude data center: US (default) or EU."""

    US = "US"
    EU = "EU"


class User:
    """The user to evaluate: ``device_id`` and ``user_id`` identify, every other field
    and ``user_properties``/``groups``/``group_properties`` are used for targeting."""

    _FIELDS = (
        "device_id",
        "user_id",
        "country",
        "city",
        "region",
        "dma",
        "language",
        "platform",
        "version",
        "os",
        "device_manufacturer",
        "device_brand",
        "device_model",
        "carrier",
        "library",
        "ip_address",
        "user_properties",
        "groups",
        "group_properties",
        "group_cohort_ids",
        "cohort_ids",
    )

    def __init__(
        self,
        device_id: Optional[str] = None,
        user_id: Optional[str] = None,
        country: Optional[str] = None,
        city: Optional[str] = None,
        region: Optional[str] = None,
        dma: Optional[str] = None,
        language: Optional[str] = None,
        platform: Optional[str] = None,
        version: Optional[str] = None,
        os: Optional[str] = None,
        device_manufacturer: Optional[str] = None,
        device_brand: Optional[str] = None,
        device_model: Optional[str] = None,
        carrier: Optional[str] = None,
        library: Optional[str] = None,
        ip_address: Optional[str] = None,
        user_properties: Optional[Dict[str, Any]] = None,
        groups: Optional[Dict[str, List[str]]] = None,
        group_properties: Optional[Dict[str, Dict[str, Dict[str, Any]]]] = None,
        group_cohort_ids: Optional[Dict[str, Dict[str, List[str]]]] = None,
        cohort_ids: Optional[List[str]] = None,
    ) -> None:
        self.device_id = device_id
        self.user_id = user_id
        self.country = country
        self.city = city
        self.region = region
        self.dma = dma
        self.language = language
        self.platform = platform
        self.version = version
        self.os = os
        self.device_manufacturer = device_manufacturer
        self.device_brand = device_brand
        self.device_model = device_model
        self.carrier = carrier
        self.library = library
        self.ip_address = ip_address
        self.user_properties = user_properties
        self.groups = groups
        self.group_properties = group_properties
        self.group_cohort_ids = group_cohort_ids
        self.cohort_ids = cohort_ids

    def to_dict(self) -> Dict[str, Any]:
        """The fields that are set, as the JSON object allot's requests take."""
        d = self.__dict__
        return {k: d[k] for k in self._FIELDS if d.get(k) is not None}

    def to_json(self) -> str:
        """The user as a JSON string: every attribute, unset ones as ``null`` (as the SDK)."""
        return json.dumps(self, default=lambda o: o.__dict__)

    def add_group_cohort_ids(self, group_type: str, group_name: str, cohort_ids: List[str]) -> None:
        """Adds cohort ids for one group of the user."""
        if self.group_cohort_ids is None:
            self.group_cohort_ids = {}
        self.group_cohort_ids.setdefault(group_type, {})[group_name] = cohort_ids

    def __str__(self) -> str:
        return self.to_json()

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"User({fields})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, User) and self.to_dict() == other.to_dict()


class Variant:
    """A flag's variant: ``key``, ``value``, ``payload`` and ``metadata``. Two variants are
    equal when key, value and payload are equal (metadata is ignored)."""

    __slots__ = ("value", "payload", "key", "metadata")

    def __init__(
        self,
        value: Optional[str] = None,
        payload: Any = None,
        key: Optional[str] = None,
        metadata: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.value = value
        self.payload = payload
        self.key = key
        self.metadata = metadata

    def __eq__(self, obj: object) -> bool:
        if not isinstance(obj, Variant):
            return False
        return self.key == obj.key and self.value == obj.value and self.payload == obj.payload

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return f"key: {self.key}, value: {self.value}, payload: {self.payload}, metadata:{self.metadata}"

    def __repr__(self) -> str:
        return f"Variant(value={self.value!r}, payload={self.payload!r}, key={self.key!r}, metadata={self.metadata!r})"


_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_decode_json = json.JSONDecoder().decode
_compact_json = _native.compact_json
_evaluate_compact = _native.evaluate_compact_raw
_compact_answer = _native.compact_answer
_buffers = _native.buffers
_new = object.__new__


def _variants(doc: Dict[str, Any]) -> Dict[str, Variant]:
    return {
        flag: Variant(v.get("value"), v.get("payload"), v.get("key"), v.get("metadata"))
        for flag, v in doc["variants"].items()
    }


def _flat(obj: Any) -> bool:
    """Whether a decoded JSON value holds no nested container (a shallow copy is a copy)."""
    if isinstance(obj, dict):
        return not any(isinstance(v, (dict, list)) for v in obj.values())
    if isinstance(obj, list):
        return not any(isinstance(v, (dict, list)) for v in obj)
    return True


def _copier(obj: Any) -> Callable[[], Any]:
    """A function returning a fresh, independent copy of a decoded JSON value: shallow
    copies, with the nested containers copied by their own copiers (several times
    cheaper than decoding the JSON text again)."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return lambda: obj
    if _flat(obj):
        return obj.copy
    if isinstance(obj, dict):
        nested = [(k, _copier(v)) for k, v in obj.items() if isinstance(v, (dict, list))]
        if len(nested) == 1:  # such as {"flagIds": [...]}: a quarter cheaper without the loop
            ((key, copy_nested),) = nested

            def copy_dict_one() -> Dict[str, Any]:
                copy = obj.copy()
                copy[key] = copy_nested()
                return copy

            return copy_dict_one

        def copy_dict() -> Dict[str, Any]:
            copy = obj.copy()
            for k, copy_value in nested:
                copy[k] = copy_value()
            return copy

        return copy_dict
    items = [_copier(v) for v in obj]
    return lambda: [copy_item() for copy_item in items]


#: One cached result: flag key, variant value, payload, payload copier (``None`` when
#: the payload is immutable), variant key, metadata copier.
_Entry = Tuple[str, Any, Any, Optional[Callable[[], Any]], Any, Callable[[], Any]]
#: Cached plans (answers of ``allot_evaluate_compact``) a snapshot keeps before starting afresh.
_MAX_PLANS = 4096


class _SnapshotResults:
    """Decoded results of one configuration snapshot, by result id (the fast lane), and
    the plans of whole answers: an answer's bytes (snapshot id and result ids) name its
    entries. A new snapshot id replaces the whole object; entries are never changed in
    place, and every call builds new ``Variant`` objects with their own payload and
    metadata."""

    def __init__(self, snapshot: int) -> None:
        self.snapshot = snapshot
        self.entries: Dict[int, _Entry] = {}
        self.plans: Dict[bytes, Tuple[_Entry, ...]] = {}

    def entry(self, handle: int, result_id: int) -> Optional[_Entry]:
        """The cached result, fetched on first use; ``None`` when the snapshot changed."""
        entry = self.entries.get(result_id)
        if entry is None:
            doc = _native.result_json(handle, self.snapshot, result_id)
            if doc is None:
                return None
            v = doc["variant"]
            payload = v.get("payload")
            copy_payload = _copier(payload)
            entry = (
                doc["flag_key"],
                v.get("value"),
                payload,
                None if copy_payload() is payload else copy_payload,
                v.get("key"),
                _copier(v.get("metadata")),
            )
            self.entries[result_id] = entry
        return entry

    def plan(self, handle: int, answer: bytes, ids: Tuple[int, ...]) -> Optional[Tuple[_Entry, ...]]:
        """The entries of an answer of this snapshot (``ids``: its result ids), cached
        under its bytes; ``None`` when the snapshot changed."""
        plan = []
        for result_id in ids:
            entry = self.entry(handle, result_id)
            if entry is None:
                return None
            plan.append(entry)
        if len(self.plans) >= _MAX_PLANS:  # users vary without end: stay bounded
            self.plans = {}
        result = self.plans[answer] = tuple(plan)
        return result


def _is_default(variant: Variant) -> bool:
    meta = variant.metadata or {}
    return bool(meta.get("default", False)) or meta.get("deployed", True) is False


def _user_dict(user: Any) -> Dict[str, Any]:
    if user is None:
        return {}
    if isinstance(user, User):
        return user.to_dict()
    if isinstance(user, dict):
        return {k: v for k, v in user.items() if v is not None}
    raise TypeError(f"user must be an allot.amplitude.User, got {type(user).__name__}")


_FIELD_SET = frozenset(User._FIELDS)
#: Each field's JSON member name with its colon (the names need no escaping).
_MEMBERS = {k: '"' + k + '":' for k in User._FIELDS}
_quote = json.encoder.encode_basestring  # type: ignore[attr-defined]
_value_json = _native.value_json


def _user_json(user: Any) -> bytes:
    """The fast lane's user: ``compact_json(_fields(user))``, with a ``User``'s string
    fields quoted directly (no intermediate dict; the same text)."""
    if type(user) is not User:
        return _compact_json(_user_dict(user))
    members = []
    for k, v in user.__dict__.items():
        if v is not None:
            member = _MEMBERS.get(k)
            if member is not None:
                members.append(member + (_quote(v) if type(v) is str else _value_json(v)))
    return ("{" + ",".join(members) + "}").encode("utf-8")


_evaluate_marshal = _native.evaluate_compact_marshal_raw
_marshal = marshal.dumps
_sizes = _native.sizes
#: A ``User``'s fields, in the order ``allot_evaluate_compact_marshal`` takes them.
_field_values = operator.itemgetter(*User._FIELDS)


def _user_marshal(user: Any) -> Optional[Tuple[bytes, Any]]:
    """The fast lane's user in the compact binary form: ``marshal.dumps`` (version 2) of
    the tuple of a ``User``'s fields (``None`` for an unset one), and its length as a
    ``c_size_t``. ``None`` when the user is not a ``User``, lacks a field (deleted), holds
    a value marshal does not write, or the library has no such entry point: then the user
    goes as JSON (as it does when the library refuses the tuple)."""
    if type(user) is not User or _evaluate_marshal is None:
        return None
    try:
        packed = _marshal(_field_values(user.__dict__), 2)
    except (KeyError, ValueError):
        return None
    length = len(packed)
    return packed, _sizes[length] if length < 1024 else ctypes.c_size_t(length)


def _fields(user: Any) -> Dict[str, Any]:
    if type(user) is User:
        return {k: v for k, v in user.__dict__.items() if v is not None and k in _FIELD_SET}
    return _user_dict(user)


def _options_text(flag_keys: List[str], exposes: bool) -> bytes:
    """The fast lane's options: the flag keys' JSON array, or with ``exposes`` an object
    asking for exposure events too."""
    if not exposes:
        return _compact_json(flag_keys)
    options: Dict[str, Any] = {"tracks_exposure": True}
    if flag_keys:
        options["flag_keys"] = flag_keys
    return _compact_json(options)


def _request(user: Any, flag_keys: Optional[Collection[str]], tail: str = "") -> bytes:
    fields = _fields(user)
    if flag_keys:
        tail += ',"flag_keys":' + _encode_json(list(flag_keys))
    return ('{"user":' + _encode_json(fields) + tail + "}").encode()


def deprecated(reason: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The SDK's decorator: a ``DeprecationWarning`` on every call, shown whatever the
    warning filters say (it sets the ``always`` filter around the warning, as the SDK)."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            warnings.simplefilter("always", DeprecationWarning)
            warnings.warn(
                f"Call to deprecated function {func.__name__} ({reason}).", category=DeprecationWarning, stacklevel=2
            )
            warnings.simplefilter("default", DeprecationWarning)
            return func(*args, **kwargs)

        return wrapper

    return decorator


# ---------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------

#: Keyword arguments of the Analytics SDK's ``amplitude.Config``, which
#: ``AssignmentConfig`` and ``ExposureConfig`` extend.
ANALYTICS_OPTIONS = (
    "api_key",
    "flush_queue_size",
    "flush_interval_millis",
    "flush_max_retries",
    "logger",
    "min_id_length",
    "callback",
    "server_zone",
    "use_batch",
    "server_url",
    "storage_provider",
    "plan",
    "ingestion_metadata",
    "event_log_level",
)

#: Analytics options the library's event sender uses, by their library names.
_SENT_OPTIONS = ("api_key", "flush_queue_size", "flush_interval_millis")

_ANALYTICS_ENDPOINT = re.compile(r"/(2/httpapi|batch)/?$")


class _EventConfig(Settings):
    """What ``AssignmentConfig`` and ``ExposureConfig`` share: the Analytics SDK's
    ``amplitude.Config`` options (``api_key`` is the analytics API key, not the
    deployment key). Every option of event delivery reaches the library: ``callback(event,
    code, message)`` is called once per event with its delivery outcome, on a thread of the
    client's, as the Analytics SDK calls it; ``logger`` gets the callback's exceptions;
    ``storage_provider`` and ``event_log_level`` are accepted and kept (see
    docs/python.md)."""

    def _options(self, kw: Dict[str, Any]) -> None:
        for name in kw:
            if name not in ANALYTICS_OPTIONS:
                raise TypeError(f"__init__() got an unexpected keyword argument '{name}'")
        self.api_key = kw.get("api_key")
        self.flush_queue_size = kw.get("flush_queue_size", 200)
        self.flush_interval_millis = kw.get("flush_interval_millis", 10000)
        self.flush_max_retries = kw.get("flush_max_retries", 12)
        self.logger = kw.get("logger", logging.getLogger("amplitude"))
        self.min_id_length = kw.get("min_id_length")
        self.callback = kw.get("callback")
        self.server_zone = kw.get("server_zone", "US")
        self.use_batch = kw.get("use_batch", False)
        self.server_url = kw.get("server_url")
        self.storage_provider = kw.get("storage_provider")
        self.plan = kw.get("plan")
        self.ingestion_metadata = kw.get("ingestion_metadata")
        self.event_log_level = kw.get("event_log_level")
        self._kw = set(kw)

    def is_valid(self) -> bool:
        """The Analytics SDK's check: an API key, positive flush sizes, a valid
        ``min_id_length``."""
        return (
            bool(self.api_key)
            and self.flush_queue_size > 0
            and self.flush_interval_millis > 0
            and (self.is_min_id_length_valid())
        )

    def is_min_id_length_valid(self) -> bool:
        """``min_id_length`` is unset or a positive integer."""
        return self.min_id_length is None or (isinstance(self.min_id_length, int) and self.min_id_length > 0)

    def get_storage(self) -> Any:
        """The storage of the given ``storage_provider`` (allot queues events in the
        library: ``None`` without a provider)."""
        return None if self.storage_provider is None else self.storage_provider.get_storage()

    def _to_json(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"api_key": self.api_key}
        for name in _SENT_OPTIONS[1:]:
            if name in self._kw:
                doc[name] = getattr(self, name)
        if self.server_zone is not None and "server_zone" in self._kw:
            doc["server_zone"] = _zone(self.server_zone)
        if self.use_batch:
            doc["use_batch"] = True
        if self.server_url:
            # The Analytics SDK's server_url is the endpoint itself; the library takes the
            # server and the endpoint (use_batch) apart.
            url = str(self.server_url)
            endpoint = _ANALYTICS_ENDPOINT.search(url)
            if endpoint is not None:
                doc["use_batch"] = endpoint.group(1) == "batch"
                url = url[: endpoint.start()]
            doc["server_url"] = url
        if "flush_max_retries" in self._kw:
            doc["flush_max_retries"] = self.flush_max_retries
        if self.min_id_length is not None:
            doc["min_id_length"] = self.min_id_length
        for name, method in (("plan", "get_plan_body"), ("ingestion_metadata", "get_body")):
            value = getattr(self, name)
            if value is not None:
                doc[name] = getattr(value, method)() if hasattr(value, method) else dict(value)
        if self.given("cache_capacity"):
            doc["cache_capacity"] = self.cache_capacity
        if callable(self.callback):
            doc["delivery_reports"] = True
        return doc


class AssignmentConfig(_EventConfig):
    """Assignment tracking (deprecated by Amplitude in favour of exposure tracking):
    ``cache_capacity`` bounds the de-duplication cache; ``send_evaluated_props`` copies the
    user's context into each event; ``**kw`` are the Analytics SDK's ``Config`` options."""

    def __init__(self, cache_capacity: int = 65536, send_evaluated_props: bool = False, **kw: Any) -> None:
        self._options(kw)
        self.cache_capacity = cache_capacity
        self.send_evaluated_props = send_evaluated_props

    def _to_json(self) -> Dict[str, Any]:
        doc = super()._to_json()
        if self.send_evaluated_props:
            doc["send_evaluated_props"] = True
        return doc


class ExposureConfig(_EventConfig):
    """Exposure tracking (``evaluate_v2(..., EvaluateOptions(tracks_exposure=True))``):
    ``cache_capacity`` bounds the de-duplication cache; ``**kw`` are the Analytics SDK's
    ``Config`` options."""

    def __init__(self, cache_capacity: int = 65536, **kw: Any) -> None:
        self._options(kw)
        self.cache_capacity = cache_capacity


class CohortSyncConfig(Settings):
    """Cohort sync: download the cohorts that flags target and evaluate users with their
    memberships. ``api_key`` and ``secret_key`` are the project's keys (not the deployment
    key); the library raises ``cohort_polling_interval_millis`` to at least 60000, as the
    Amplitude SDK does (``status()["cohort_sync"]["polling_interval_millis"]`` shows the
    interval used); without ``cohort_server_url`` the server zone picks the US or EU
    cohort server. Other keyword arguments (``cohort_request_timeout_millis``,
    ``max_concurrent_downloads``, ``min_cohort_polling_interval_millis``) are passed to the
    native library as given."""

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        max_cohort_size: int = 2147483647,
        cohort_polling_interval_millis: int = 60000,
        cohort_server_url: str = DEFAULT_COHORT_SYNC_URL,
        **kw: Any,
    ) -> None:
        self.api_key = api_key
        self.secret_key = secret_key
        self.max_cohort_size = max_cohort_size
        self.cohort_polling_interval_millis = cohort_polling_interval_millis
        self.cohort_server_url = cohort_server_url
        self.options = kw

    def _to_json(self) -> Dict[str, Any]:
        doc = dict(self.options)
        doc["api_key"] = self.api_key
        doc["secret_key"] = self.secret_key
        for name in ("max_cohort_size", "cohort_polling_interval_millis", "cohort_server_url"):
            if self.given(name) and getattr(self, name) is not None:
                doc[name] = getattr(self, name)
        return doc

    def __repr__(self) -> str:
        # The keys are secrets: never printed.
        return f"CohortSyncConfig(cohort_server_url={self.cohort_server_url!r}, max_cohort_size={self.max_cohort_size})"


def _sdk_logger(debug: bool, given: Optional[logging.Logger]) -> logging.Logger:
    """The SDK's logger set-up: a given logger is used as is; otherwise the ``Amplitude``
    logger gets a stderr handler (when it has none) and the level DEBUG or WARNING."""
    if given is not None:
        return given
    sdk = logging.getLogger(LOGGER_NAME)
    if not sdk.handlers:
        sdk.addHandler(logging.StreamHandler(sys.stderr))
    sdk.setLevel(logging.DEBUG if debug else logging.WARNING)
    return sdk


class LocalEvaluationConfig(Settings):
    """Configuration of :class:`LocalEvaluationClient`, with the Amplitude SDK's names and
    defaults. allot adds ``flags`` (the flag configuration array, inline) and
    ``flags_path`` (a file holding it) for evaluation without a flag server."""

    def __init__(
        self,
        debug: bool = False,
        server_url: str = DEFAULT_SERVER_URL,
        server_zone: ServerZone = ServerZone.US,
        flag_config_polling_interval_millis: int = 30000,
        flag_config_poller_request_timeout_millis: int = 10000,
        stream_updates: bool = False,
        stream_server_url: str = DEFAULT_STREAM_URL,
        stream_flag_conn_timeout: int = 1500,
        assignment_config: Optional[AssignmentConfig] = None,
        exposure_config: Optional[ExposureConfig] = None,
        cohort_sync_config: Optional[CohortSyncConfig] = None,
        logger: Optional[logging.Logger] = None,
        *,
        flags: Optional[List[Dict[str, Any]]] = None,
        flags_path: Optional[str] = None,
    ) -> None:
        self.debug = debug
        self.server_url = server_url
        self.server_zone = server_zone
        self.cohort_sync_config = cohort_sync_config
        if server_url == DEFAULT_SERVER_URL and server_zone == ServerZone.EU:
            self.server_url = EU_SERVER_URL
        self.stream_server_url = stream_server_url
        self.flag_config_polling_interval_millis = flag_config_polling_interval_millis
        self.flag_config_poller_request_timeout_millis = flag_config_poller_request_timeout_millis
        self.stream_updates = stream_updates
        self.stream_flag_conn_timeout = stream_flag_conn_timeout
        self.assignment_config = assignment_config
        self.exposure_config = exposure_config
        self.logger = _sdk_logger(debug, logger)
        self.flags = flags
        self.flags_path = flags_path

    def _to_json(self, api_key: str) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"provider": "amplitude", "mode": "local", "api_key": api_key}
        # Only what the caller set is sent: the library owns every default (a default
        # server_url follows server_zone; with bootstrap flags and no server the client is
        # offline).
        for name in _LOCAL_SETTINGS:
            if self.given(name) and getattr(self, name) is not None:
                doc[name] = getattr(self, name)
        if "flags_path" in doc:
            doc["flags_path"] = str(doc["flags_path"])
        if self.given("server_zone"):
            doc["server_zone"] = _zone(self.server_zone)
        offline = self.flags is not None or self.flags_path is not None
        server_url = _server_url(self, use_env=not offline)
        if server_url is not None:
            doc["server_url"] = server_url
        if self.assignment_config is not None:
            doc["assignment_config"] = self.assignment_config._to_json()
        if self.exposure_config is not None:
            doc["exposure_config"] = self.exposure_config._to_json()
        if self.cohort_sync_config is not None:
            doc["cohort_sync"] = self.cohort_sync_config._to_json()
        return doc


#: The local settings sent to the library as given (the others are converted).
_LOCAL_SETTINGS = (
    "debug",
    "flags",
    "flags_path",
    "flag_config_polling_interval_millis",
    "flag_config_poller_request_timeout_millis",
    "stream_updates",
    "stream_server_url",
    "stream_flag_conn_timeout",
)


class RemoteEvaluationConfig(Settings):
    """Configuration of :class:`RemoteEvaluationClient`, with the Amplitude SDK's names
    and defaults. ``fetch_pool_acquire_timeout_millis`` and ``connection_pool_max_size``
    are accepted: the library's connection pool has no such limits."""

    def __init__(
        self,
        debug: bool = False,
        server_url: str = DEFAULT_SERVER_URL,
        fetch_timeout_millis: int = 10000,
        fetch_retries: int = 0,
        fetch_retry_backoff_min_millis: int = 500,
        fetch_retry_backoff_max_millis: int = 10000,
        fetch_retry_backoff_scalar: float = 1.5,
        fetch_retry_timeout_millis: int = 10000,
        fetch_pool_acquire_timeout_millis: Optional[int] = None,
        server_zone: ServerZone = ServerZone.US,
        connection_pool_max_size: int = 1,
        logger: Optional[logging.Logger] = None,
    ) -> None:
        self.debug = debug
        self.server_url = server_url
        self.fetch_timeout_millis = fetch_timeout_millis
        self.fetch_retries = fetch_retries
        self.fetch_retry_backoff_min_millis = fetch_retry_backoff_min_millis
        self.fetch_retry_backoff_max_millis = fetch_retry_backoff_max_millis
        self.fetch_retry_backoff_scalar = fetch_retry_backoff_scalar
        self.fetch_retry_timeout_millis = fetch_retry_timeout_millis
        self.fetch_pool_acquire_timeout_millis = fetch_pool_acquire_timeout_millis
        self.server_zone = server_zone
        self.connection_pool_max_size = connection_pool_max_size
        if server_url == DEFAULT_SERVER_URL and server_zone == ServerZone.EU:
            self.server_url = REMOTE_EU_SERVER_URL
        self.logger = _sdk_logger(debug, logger)

    def _to_json(self, api_key: str) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"provider": "amplitude", "mode": "remote", "api_key": api_key}
        for name in _REMOTE_SETTINGS:
            if self.given(name) and getattr(self, name) is not None:
                doc[name] = getattr(self, name)
        if self.given("server_zone"):
            doc["server_zone"] = _zone(self.server_zone)
        server_url = _server_url(self)
        if server_url is not None:
            doc["server_url"] = server_url
        return doc


#: The remote settings sent to the library as given.
_REMOTE_SETTINGS = (
    "debug",
    "fetch_timeout_millis",
    "fetch_retries",
    "fetch_retry_backoff_min_millis",
    "fetch_retry_backoff_max_millis",
    "fetch_retry_backoff_scalar",
    "fetch_retry_timeout_millis",
)


#: The older SDK's name for the remote configuration (``Experiment.initialize_remote(key, Config())``).
Config = RemoteEvaluationConfig


#: Environment variable that replaces the default server URL (e.g. a staging server or a
#: test server); a ``server_url`` given in the configuration always wins.
SERVER_URL_ENV = "ALLOT_AMPLITUDE_SERVER_URL"


def _server_url(config: Settings, use_env: bool = True) -> Optional[str]:
    configured: Optional[str] = getattr(config, "server_url", None)
    if config.given("server_url") and configured is not None:
        return configured
    return (os.environ.get(SERVER_URL_ENV) or None) if use_env else None


def _zone(zone: Any) -> str:
    if isinstance(zone, ServerZone):
        return zone.value.lower()
    return str(zone).lower()


class EvaluateOptions:
    """Options of one local evaluation: ``tracks_exposure=True`` sends exposure events
    (with an ``exposure_config``)."""

    def __init__(self, tracks_exposure: Optional[bool] = None) -> None:
        self.tracks_exposure = tracks_exposure


class FetchOptions:
    """Options of one remote fetch: whether the server tracks the assignment and the
    exposure (``None``: the server's default), and the flags to evaluate."""

    def __init__(
        self,
        tracksAssignment: Optional[bool] = None,  # noqa: N803 - the SDK's names
        tracksExposure: Optional[bool] = None,  # noqa: N803
        flagKeys: Optional[List[str]] = None,  # noqa: N803
    ) -> None:
        self.tracksAssignment = tracksAssignment
        self.tracksExposure = tracksExposure
        self.flagKeys = flagKeys

    def __str__(self) -> str:
        return (
            f"FetchOptions(tracksAssignment={self.tracksAssignment}, "
            f"tracksExposure={self.tracksExposure}, flagKeys={self.flagKeys})"
        )


class FetchException(Exception):
    """A fetch answered with an HTTP error status (``status_code``)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


class CohortTooLargeException(Exception):
    """A cohort exceeded ``max_cohort_size`` (the SDK's name; allot downloads no cohorts)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class HTTPErrorResponseException(Exception):
    """An HTTP error answer (the SDK's name)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


class CohortsDownloadException(Exception):
    """Cohort downloads failed (the SDK's name; allot downloads no cohorts)."""

    def __init__(self, errors: List[Any]) -> None:
        self.errors = errors
        super().__init__(self.__str__())

    def __str__(self) -> str:
        lines = [f"Cohort {i[0]}: {i[1]}" if isinstance(i, tuple) and len(i) == 2 else str(i) for i in self.errors]
        return "One or more cohorts failed to update:\n" + "\n".join(lines)


class _FetchStatusError(FetchException, _native.HttpStatusError):
    """An HTTP status failure of a fetch: both the SDK's ``FetchException`` (with
    ``status_code``) and allot's ``HttpStatusError`` (with ``code``)."""

    def __init__(self, status_code: int, error: AllotError) -> None:
        _native.HttpStatusError.__init__(self, error.code, error.message)
        self.status_code = status_code


class _FetchUnauthorizedError(FetchException, _native.UnauthorizedError):
    """A fetch whose key was rejected (401/403): ``FetchException`` and ``UnauthorizedError``."""

    def __init__(self, status_code: int, error: AllotError) -> None:
        _native.UnauthorizedError.__init__(self, error.code, error.message)
        self.status_code = status_code


class _FetchInvalidResponse(_native.InvalidResponseError, ValueError):
    """An answer that is not variants JSON (the SDK raises the JSON decoder's ValueError)."""


_STATUS = re.compile(r"HTTP (\d{3})")
_ATTEMPTS = re.compile(r"after (\d+) attempt")


def _fetch_failure(error: AllotError) -> Tuple[Exception, bool, bool]:
    """The exception the SDK would raise for a failed fetch, whether the SDK would have
    retried it, and whether it was the first attempt."""
    status_match = _STATUS.search(error.message)
    attempts = _ATTEMPTS.search(error.message)
    first = attempts is None or attempts.group(1) == "1"
    status = int(status_match.group(1)) if status_match else None
    if error.code in ("http_status", "unauthorized") and status is not None:
        cls = _FetchUnauthorizedError if error.code == "unauthorized" else _FetchStatusError
        return cls(status, error), status < 400 or status >= 500 or status == 429, first
    if error.code == "invalid_response":
        return _FetchInvalidResponse(error.code, error.message), True, first
    return error, True, first


# ---------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------


class _DeliveredEvent:
    """An analytics event as the library sent it, handed to the configs' ``callback(event,
    code, message)``: the Analytics SDK's ``BaseEvent`` fields as attributes
    (``event_type``, ``user_id``, ``device_id``, ``event_properties``, ``user_properties``,
    ``insert_id``, ``time``, ``library``, …; unset ones are ``None``), ``event["field"]``,
    ``get_event_body()`` and ``str(event)`` as the SDK's."""

    def __init__(self, body: Dict[str, Any]) -> None:
        self.__dict__.update(body)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return None

    def __getitem__(self, name: str) -> Any:
        return self.__dict__.get(name)

    def __contains__(self, name: str) -> bool:
        return self.__dict__.get(name) is not None

    def get_event_body(self) -> Dict[str, Any]:
        """The event's fields, as sent."""
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def __str__(self) -> str:
        return json.dumps(self.get_event_body(), sort_keys=True, skipkeys=True)


class _DeliveryReports:
    """Calls ``callback(event, code, message)`` of ``AssignmentConfig`` /
    ``ExposureConfig`` for each event's delivery report, which the library keeps
    (``allot_delivery_reports``): a daemon thread takes them as they come; ``settle()``
    takes the rest at once (after a flush or stop, as the SDK has called back by then).
    One taker at a time, so callbacks keep the library's order. The thread holds no
    reference to the client: freeing the client ends it."""

    _live: weakref.WeakSet[_DeliveryReports] = weakref.WeakSet()

    def __init__(
        self, handle_id: int, callbacks: Dict[str, Tuple[Callable[..., Any], logging.Logger]], logger: logging.Logger
    ) -> None:
        self._id = handle_id
        self._callbacks = callbacks
        self._logger = logger
        self._closed = False
        self._start()
        _DeliveryReports._live.add(self)

    @staticmethod
    def for_config(handle_id: int, config: Any) -> Optional[_DeliveryReports]:
        """A taker when either event config has a callback, else ``None``."""
        callbacks = {}
        for stream, event_config in (("assignment", config.assignment_config), ("exposure", config.exposure_config)):
            if event_config is not None and callable(event_config.callback):
                callbacks[stream] = (event_config.callback, event_config.logger)
        return _DeliveryReports(handle_id, callbacks, config.logger) if callbacks else None

    def _start(self) -> None:
        self._lock = threading.Lock()
        threading.Thread(target=self._run, name="allot-delivery-reports", daemon=True).start()

    def _run(self) -> None:
        while not self._closed:
            self._take(100)

    def settle(self) -> None:
        """Calls back for every report the library holds now."""
        self._take(0)

    def _take(self, timeout_ms: int) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                answer = _native.delivery_reports(self._id, timeout_ms)
            except AllotError:  # the client was freed
                self._closed = True
                return
            self._closed = bool(answer["closed"])
            for report in answer["reports"]:
                callback, logger = self._callbacks.get(report["stream"], (None, None))
                if callback is None:
                    continue
                event = _DeliveredEvent(report["event"])
                try:
                    callback(event, report["code"], report["message"])
                except Exception:  # noqa: BLE001 - logged as the SDK logs it
                    (logger or self._logger).exception(f"Error callback for event {event}")

    @classmethod
    def _after_fork_in_child(cls) -> None:
        # The parent's thread does not exist here; the library starts the child's reports anew.
        for reports in list(cls._live):
            if not reports._closed:
                reports._start()


class _Handle:
    """Owns one native handle; frees it exactly once."""

    def __init__(self, config: Dict[str, Any]) -> None:
        self.id = _native.init(config)
        self._finalizer = weakref.finalize(self, _native.free, self.id)

    def close(self) -> None:
        self._finalizer()


class LocalEvaluationClient:
    """Evaluates flags in-process on configurations fetched (and polled) by liballot."""

    def __init__(self, api_key: str, config: Optional[LocalEvaluationConfig] = None) -> None:
        if not api_key:
            raise ValueError("Experiment API key is empty")
        self.api_key = api_key
        self.config = config or LocalEvaluationConfig()
        self.logger = self.config.logger
        self._handle = _Handle(self.config._to_json(api_key))
        self._id = self._handle.id
        self._results = _SnapshotResults(0)
        self._handle_arg = _native.handle_arg(self._id)
        #: Encoded fast-lane options by (flag keys, exposure wanted): a program asks for
        #: a few, again and again; bounded.
        self._encoded_options: Dict[Tuple[Tuple[Any, ...], bool], bytes] = {}
        self._reports = _DeliveryReports.for_config(self._id, self.config)

    def start(self) -> None:
        """Fetches the flag configurations (blocking) and starts polling for updates.
        Raises the library's error (``AllotError`` with ``.code``) when the first fetch
        fails."""
        timeout = int(self.config.flag_config_poller_request_timeout_millis) + 1000
        try:
            status = _native.start(self._id, timeout)
        except AllotError as e:
            # As the SDK: a warning, then the failure (an HTTP status is a plain Exception).
            self.logger.warning(f"Error while updating flags: {e}")
            if e.code in ("http_status", "unauthorized"):
                raise _native.HttpStatusError(e.code, e.message) from None
            if e.code == "invalid_response":
                raise _FetchInvalidResponse(e.code, e.message) from None
            raise
        self.logger.debug(f"[Experiment] local evaluation client started: {status}")

    def evaluate_v2(
        self, user: User, flag_keys: Optional[Collection[str]] = None, options: Optional[EvaluateOptions] = None
    ) -> Dict[str, Variant]:
        """Every evaluated variant for ``user`` (default variants included), for all flags
        or only ``flag_keys`` and their dependencies; ``{}`` before the first flag
        configuration is loaded. ``options.tracks_exposure`` sends exposure events."""
        try:
            exposes = options is not None and options.tracks_exposure is True
            keys_json = self._options_json(flag_keys, exposes) if flag_keys or exposes else None
            packed = _user_marshal(user)
            text = None
            while True:
                buf, capacity, size = _buffers.state
                if packed is not None:
                    n = _evaluate_marshal(self._handle_arg, packed[0], packed[1], keys_json, buf, capacity)
                    if 0 < n <= size:
                        answer = buf[:n]
                    else:  # refused, an error or a long answer: the JSON user says which
                        packed = None
                if packed is None:
                    if text is None:
                        text = _user_json(user)
                    n = _evaluate_compact(self._handle_arg, text, keys_json, buf, capacity)
                    try:
                        answer = buf[:n] if 0 < n <= size else _compact_answer(self._handle_arg, text, keys_json, n)
                    except _native.UnsupportedError:  # more results than 32-bit ids name
                        tail = ',"tracks_exposure":true' if exposes else ""
                        request = _request(user, flag_keys, tail)
                        return _variants(_native.decode(_native.evaluate_raw(self._id, request)))
                results = self._results
                plan = results.plans.get(answer)
                if plan is None:
                    snapshot, ids = _native.compact_ids(answer)
                    if results.snapshot != snapshot:
                        results = self._results = _SnapshotResults(snapshot)
                    plan = results.plan(self._id, answer, ids)
                    if plan is None:  # the configuration changed meanwhile: evaluate again
                        continue
                variants = {}
                for flag, value, payload, copy_payload, key, copy_metadata in plan:
                    variant = variants[flag] = _new(Variant)
                    variant.value = value
                    variant.payload = payload if copy_payload is None else copy_payload()
                    variant.key = key
                    variant.metadata = copy_metadata()
                return variants
        except _native.NotStartedError:
            return {}

    def _options_json(self, flag_keys: Optional[Collection[str]], exposes: bool) -> bytes:
        """The options ``allot_evaluate_compact`` takes: ``flag_keys`` as a JSON array,
        or with ``exposes`` an object that also asks for exposure events."""
        try:
            key = (tuple(flag_keys or ()), exposes)
            encoded = self._encoded_options.get(key)
        except TypeError:  # unhashable keys: not cached
            return _options_text(list(flag_keys or ()), exposes)
        if encoded is None:
            encoded = _options_text(list(key[0]), exposes)
            if len(self._encoded_options) >= 256:
                self._encoded_options = {}
            self._encoded_options[key] = encoded
        return encoded

    @deprecated("Use evaluate_v2")
    def evaluate(self, user: User, flag_keys: Optional[List[str]] = None) -> Dict[str, Variant]:
        """Deprecated: like :meth:`evaluate_v2` without default and undeployed variants."""
        variants = self.evaluate_v2(user, set(flag_keys) if flag_keys is not None else None)
        return {k: v for k, v in variants.items() if not _is_default(v)}

    def status(self) -> Dict[str, Any]:
        """allot extension: the native client's status document."""
        return _native.status(self._id)

    def flush(self, timeout_millis: int = 10000) -> Dict[str, Any]:
        """allot extension: sends queued assignment and exposure events now, waiting at
        most ``timeout_millis``; returns the event counters."""
        counters = _native.flush(self._id, timeout_millis)
        if self._reports is not None:
            self._reports.settle()
        return counters

    def stop(self, timeout: Optional[float] = 10.0) -> None:
        """Stops polling for flag configurations and sends pending assignment and
        exposure events, waiting at most ``timeout`` seconds (``None``: no limit). The
        client keeps evaluating on the last flags."""
        millis = 0xFFFFFFFF if timeout is None else max(0, int(timeout * 1000))
        try:
            _native.stop(self._id, millis)
        except _native.AllotTimeoutError:
            self.logger.warning(f"[Experiment] Stop timed out after {timeout}s waiting for pending events to flush")
        if self._reports is not None:
            self._reports.settle()

    def __enter__(self) -> LocalEvaluationClient:
        return self

    def __exit__(self, *exit_info: Any) -> None:
        self.stop()


class RemoteEvaluationClient:
    """Fetches variants from Amplitude's evaluation server through liballot."""

    def __init__(self, api_key: str, config: Optional[RemoteEvaluationConfig] = None) -> None:
        if not api_key:
            raise ValueError("Experiment API key is empty")
        self.api_key = api_key
        self.config = config or RemoteEvaluationConfig()
        self.logger = self.config.logger
        self._handle = _Handle(self.config._to_json(api_key))
        self._id = self._handle.id
        self._closed = False

    def fetch_v2(self, user: User, fetch_options: Optional[FetchOptions] = None) -> Dict[str, Variant]:
        """Fetches every variant for ``user`` (default variants included), retrying as
        configured. As the SDK: ``{}`` when a retryable failure (network, timeout, 429,
        5xx) happens and no retries are configured, ``None`` when the first answer is
        another 4xx, and the last failure raised when every retry failed."""
        try:
            return self._fetch_internal(user, fetch_options)
        except Exception as e:
            self.logger.error(f"[Experiment] Failed to fetch variants: {e}")
            raise e

    @deprecated("Use fetch_v2")
    def fetch(self, user: User, fetch_options: Optional[FetchOptions] = None) -> Dict[str, Variant]:
        """Deprecated: like :meth:`fetch_v2` without default, undeployed variants; ``{}``
        on failure."""
        try:
            variants = self.fetch_v2(user, fetch_options)
            return {k: v for k, v in variants.items() if not _default_and_undeployed(v)}
        except Exception:
            return {}

    def fetch_async_v2(self, user: User, callback: Optional[Callable[..., Any]] = None) -> None:
        """Fetches on a new thread, then calls ``callback(user, variants)``, or
        ``callback(user, {}, error)`` when the fetch raised."""
        threading.Thread(target=self._fetch_async_internal, args=(user, callback)).start()

    @deprecated("Use fetch_async_v2")
    def fetch_async(self, user: User, callback: Optional[Callable[..., Any]] = None) -> None:
        """Deprecated: like :meth:`fetch_async_v2`; the callback gets
        ``(user, variants, error)`` without default, undeployed variants."""

        def wrapper(u: User, v: Dict[str, Variant], e: Optional[Exception] = None) -> None:
            v = {k: x for k, x in v.items() if not _default_and_undeployed(x)}
            if callback is not None:
                callback(u, v, e)

        self.fetch_async_v2(user, wrapper)

    def _fetch_async_internal(self, user: User, callback: Optional[Callable[..., Any]]) -> None:
        try:
            variants = self._fetch_internal(user, None)
        except Exception as e:  # noqa: BLE001 - handed to the callback, as the SDK
            if callback:
                callback(user, {}, e)
            return
        if callback:
            callback(user, variants)

    def _fetch_internal(self, user: User, fetch_options: Optional[FetchOptions]) -> Optional[Dict[str, Variant]]:
        self.logger.debug(f"[Experiment] Fetching variants for user: {user}")
        if user is not None and getattr(user, "library", None) is None and isinstance(user, User):
            user.library = f"allot-python/{__version__}"
        try:
            if self._closed:
                raise _native.NetworkError("network", "the client is closed")
            return _variants(_native.fetch(self._id, _request(user, None, _fetch_tail(fetch_options))))
        except AllotError as e:
            error, retryable, first = _fetch_failure(e)
            self.logger.error(f"[Experiment] Fetch failed: {error}")
            if first and not retryable:
                return None
            if self.config.fetch_retries == 0:
                return {}
            raise error from None

    def close(self) -> None:
        """Closes the connections; later fetches fail as when the server is unreachable."""
        self._closed = True
        self._handle.close()

    def __enter__(self) -> RemoteEvaluationClient:
        return self

    def __exit__(self, *exit_info: Any) -> None:
        self.close()


def _fetch_tail(options: Optional[FetchOptions]) -> str:
    if options is None:
        return ""
    tail = ""
    if options.tracksAssignment is not None:
        tail += ',"tracks_assignment":' + ("true" if options.tracksAssignment else "false")
    if options.tracksExposure is not None:
        tail += ',"tracks_exposure":' + ("true" if options.tracksExposure else "false")
    if options.flagKeys:
        tail += ',"flag_keys":' + _encode_json(list(options.flagKeys))
    return tail


def _default_and_undeployed(variant: Variant) -> bool:
    """The remote ``fetch`` filter of the SDK: default *and* not deployed."""
    meta = variant.metadata or {}
    default = meta.get("default") if meta.get("default") is not None else False
    deployed = meta.get("deployed") if meta.get("deployed") is not None else True
    return bool(default and not deployed)


_factory_lock = threading.Lock()
_local_instances: Dict[str, LocalEvaluationClient] = {}
_remote_instances: Dict[str, RemoteEvaluationClient] = {}


def _after_fork_in_child() -> None:
    global _factory_lock
    _factory_lock = threading.Lock()


register_fork_child(_after_fork_in_child)
register_fork_child(_DeliveryReports._after_fork_in_child)


class Experiment:
    """Factory of clients: one client per API key, as Amplitude's SDK."""

    @staticmethod
    def initialize_remote(api_key: str, config: Optional[RemoteEvaluationConfig] = None) -> RemoteEvaluationClient:
        """The remote evaluation client for ``api_key`` (created on first use)."""
        with _factory_lock:
            client = _remote_instances.get(api_key)
            if client is None:
                client = RemoteEvaluationClient(api_key, config)
                _remote_instances[api_key] = client
            return client

    @staticmethod
    def initialize_local(api_key: str, config: Optional[LocalEvaluationConfig] = None) -> LocalEvaluationClient:
        """The local evaluation client for ``api_key`` (created on first use)."""
        with _factory_lock:
            client = _local_instances.get(api_key)
            if client is None:
                client = LocalEvaluationClient(api_key, config)
                _local_instances[api_key] = client
            return client


class AmplitudeCookie:
    """The Amplitude identity cookie, through liballot's cookie functions."""

    @staticmethod
    def cookie_name(api_key: str, new_format: bool = False) -> str:
        """``amp_`` + the first 6 characters of the API key (``AMP_`` + 10 when
        ``new_format``). Raises ``ValueError`` for a key that is too short."""
        return _native.cookie_name(api_key, new_format)

    @staticmethod
    def parse(amplitude_cookie: str, new_format: bool = False) -> User:
        """The user (``device_id``, ``user_id``) stored in a cookie value."""
        doc = _native.cookie_parse(amplitude_cookie, new_format)
        return User(device_id=doc.get("device_id"), user_id=doc.get("user_id"))

    @staticmethod
    def generate(device_id: str, new_format: bool = False) -> str:
        """A cookie value that carries ``device_id``."""
        return _native.cookie_generate(device_id, new_format)
