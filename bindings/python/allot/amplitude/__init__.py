"""Amplitude Experiment compatible API over liballot.

A program written for ``amplitude_experiment`` changes only its import line::

    from allot.amplitude import Experiment, User, LocalEvaluationConfig

Every rule of evaluation, the HTTP clients, polling and retries live in the native
library; this module only converts arguments to JSON and results to ``Variant`` objects.
"""

from __future__ import annotations

import enum
import inspect
import json
import logging
import os
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Tuple

from .. import _native
from .._fork import register_fork_child
from .._native import AllotError
from .._settings import Settings

__all__ = [
    "AmplitudeCookie",
    "AssignmentConfig",
    "CohortSyncConfig",
    "Config",
    "Experiment",
    "LocalEvaluationClient",
    "LocalEvaluationConfig",
    "RemoteEvaluationClient",
    "RemoteEvaluationConfig",
    "ServerZone",
    "User",
    "Variant",
]

logger = logging.getLogger("allot")

DEFAULT_SERVER_URL = "https://api.lab.amplitude.com"
EU_SERVER_URL = "https://flag.lab.eu.amplitude.com"
DEFAULT_STREAM_URL = "https://stream.lab.amplitude.com"
EU_STREAM_SERVER_URL = "https://stream.lab.eu.amplitude.com"
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
        """The user as a JSON string."""
        return _encode_json(self.to_dict())

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
        return f"key: {self.key}, value: {self.value}, payload: {self.payload}, metadata: {self.metadata}"

    def __repr__(self) -> str:
        return f"Variant(value={self.value!r}, payload={self.payload!r}, key={self.key!r}, metadata={self.metadata!r})"


_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_decode_json = json.JSONDecoder().decode


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
    """A function returning a fresh, independent copy of a decoded JSON value."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return lambda: obj
    if _flat(obj):
        return obj.copy
    text = _encode_json(obj)
    return lambda: _decode_json(text)


class _SnapshotResults:
    """Decoded results of one configuration snapshot, by result id (the fast lane). A
    new snapshot id replaces the whole object; entries are never changed in place, and
    every call builds new ``Variant`` objects with their own payload and metadata."""

    def __init__(self, snapshot: int) -> None:
        self.snapshot = snapshot
        self.entries: Dict[int, Tuple[str, Any, Callable[[], Any], Any, Callable[[], Any]]] = {}

    def entry(
        self, handle: int, result_id: int
    ) -> Optional[Tuple[str, Any, Callable[[], Any], Any, Callable[[], Any]]]:
        """The cached result, fetched on first use; ``None`` when the snapshot changed."""
        entry = self.entries.get(result_id)
        if entry is None:
            doc = _native.result_json(handle, self.snapshot, result_id)
            if doc is None:
                return None
            v = doc["variant"]
            entry = (
                doc["flag_key"],
                v.get("value"),
                _copier(v.get("payload")),
                v.get("key"),
                _copier(v.get("metadata")),
            )
            self.entries[result_id] = entry
        return entry


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


def _fields(user: Any) -> Dict[str, Any]:
    if type(user) is User:
        return {k: v for k, v in user.__dict__.items() if v is not None and k in _FIELD_SET}
    return _user_dict(user)


def _request(user: Any, flag_keys: Optional[List[str]]) -> bytes:
    fields = _fields(user)
    if flag_keys:
        return ('{"user":' + _encode_json(fields) + ',"flag_keys":' + _encode_json(list(flag_keys)) + "}").encode()
    return ('{"user":' + _encode_json(fields) + "}").encode()


class AssignmentConfig(Settings):
    """Automatic assignment tracking: ``api_key`` is the analytics API key (not the
    deployment key); ``cache_capacity`` bounds the de-duplication cache. Other keyword
    arguments (Analytics SDK options) are passed to the native library as given."""

    def __init__(self, api_key: str, cache_capacity: int = 65536, **kw: Any) -> None:
        self.api_key = api_key
        self.cache_capacity = cache_capacity
        self.options = kw

    def _to_json(self) -> Dict[str, Any]:
        doc = dict(self.options)
        doc["api_key"] = self.api_key
        if self.given("cache_capacity"):
            doc["cache_capacity"] = self.cache_capacity
        return doc


class CohortSyncConfig(Settings):
    """Cohort sync: download the cohorts that flags target and evaluate users with their
    memberships. ``api_key`` and ``secret_key`` are the project's keys (not the deployment
    key); ``cohort_polling_interval_millis`` is raised to at least 60000, as the Amplitude
    SDK does; without ``cohort_server_url`` the server zone picks the US or EU cohort
    server. Other keyword arguments (``cohort_request_timeout_millis``,
    ``max_concurrent_downloads``) are passed to the native library as given."""

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
        self.cohort_polling_interval_millis = max(cohort_polling_interval_millis, 60000)
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
        cohort_sync_config: Optional[CohortSyncConfig] = None,
        *,
        flags: Optional[List[Dict[str, Any]]] = None,
        flags_path: Optional[str] = None,
    ) -> None:
        self.debug = debug
        self.server_url = server_url
        self.server_zone = server_zone
        self.flag_config_polling_interval_millis = flag_config_polling_interval_millis
        self.flag_config_poller_request_timeout_millis = flag_config_poller_request_timeout_millis
        self.stream_updates = stream_updates
        self.stream_server_url = stream_server_url
        self.stream_flag_conn_timeout = stream_flag_conn_timeout
        self.assignment_config = assignment_config
        self.cohort_sync_config = cohort_sync_config
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
    and defaults."""

    DEFAULT_SERVER_URL = DEFAULT_SERVER_URL

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
        server_zone: ServerZone = ServerZone.US,
    ) -> None:
        self.debug = debug
        self.server_url = server_url
        self.fetch_timeout_millis = fetch_timeout_millis
        self.fetch_retries = fetch_retries
        self.fetch_retry_backoff_min_millis = fetch_retry_backoff_min_millis
        self.fetch_retry_backoff_max_millis = fetch_retry_backoff_max_millis
        self.fetch_retry_backoff_scalar = fetch_retry_backoff_scalar
        self.fetch_retry_timeout_millis = fetch_retry_timeout_millis
        self.server_zone = server_zone

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


def _set_debug(debug: bool) -> None:
    if debug:
        logger.setLevel(logging.DEBUG)
        real = [h for h in logger.handlers if not isinstance(h, logging.NullHandler)]
        if not real and not logging.getLogger().handlers:
            logger.addHandler(logging.StreamHandler())


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
        _set_debug(self.config.debug)
        self._handle = _Handle(self.config._to_json(api_key))
        self._id = self._handle.id
        self._results = _SnapshotResults(0)

    def start(self) -> None:
        """Fetches the flag configurations (blocking) and starts polling for updates.
        Raises the library's error (``AllotError`` with ``.code``) when the first fetch
        fails."""
        timeout = int(self.config.flag_config_poller_request_timeout_millis) + 1000
        status = _native.start(self._id, timeout)
        logger.debug("[Experiment] local evaluation client started: %s", status)

    def evaluate_v2(self, user: User, flag_keys: Optional[List[str]] = None) -> Dict[str, Variant]:
        """Every evaluated variant for ``user`` (default variants included), for all flags
        or only ``flag_keys`` and their dependencies."""
        user_json = _encode_json(_fields(user)).encode()
        keys_json = _encode_json(list(flag_keys)).encode() if flag_keys else None
        while True:
            snapshot, ids = _native.evaluate_compact(self._id, user_json, keys_json)
            results = self._results
            if results.snapshot != snapshot:
                results = self._results = _SnapshotResults(snapshot)
            variants = {}
            for result_id in ids:
                entry = results.entry(self._id, result_id)
                if entry is None:  # the configuration changed meanwhile: evaluate again
                    break
                flag, value, payload, key, metadata = entry
                variants[flag] = Variant(value, payload(), key, metadata())
            else:
                return variants

    def evaluate(self, user: User, flag_keys: Optional[List[str]] = None) -> Dict[str, Variant]:
        """Deprecated: like :meth:`evaluate_v2` without default and undeployed variants."""
        variants = self.evaluate_v2(user, flag_keys)
        return {k: v for k, v in variants.items() if not _is_default(v)}

    def status(self) -> Dict[str, Any]:
        """allot extension: the native client's status document."""
        return _native.status(self._id)

    def flush(self, timeout_millis: int = 10000) -> Dict[str, Any]:
        """Sends queued assignment and exposure events now, waiting at most
        ``timeout_millis``; returns the event counters."""
        return _native.flush(self._id, timeout_millis)

    def stop(self) -> None:
        """Stops polling and frees the native client (later evaluations raise
        ``UnknownHandleError``)."""
        self._handle.close()
        with _factory_lock:
            if _local_instances.get(self.api_key) is self:
                del _local_instances[self.api_key]

    def __enter__(self) -> LocalEvaluationClient:
        return self

    def __exit__(self, *exit_info: Any) -> None:
        self.stop()


class RemoteEvaluationClient:
    """Fetches variants from Amplitude's evaluation server through liballot."""

    _POOL_SIZE = 4

    def __init__(self, api_key: str, config: Optional[RemoteEvaluationConfig] = None) -> None:
        if not api_key:
            raise ValueError("Experiment API key is empty")
        self.api_key = api_key
        self.config = config or RemoteEvaluationConfig()
        _set_debug(self.config.debug)
        self._handle = _Handle(self.config._to_json(api_key))
        self._id = self._handle.id
        self._lock = threading.Lock()
        self._executor: Optional[ThreadPoolExecutor] = None
        _remote_clients.add(self)

    def fetch_v2(self, user: User) -> Dict[str, Variant]:
        """Fetches every variant for ``user`` (default variants included), retrying as
        configured. Raises ``AllotError`` (``.code`` ``network``, ``timeout``,
        ``http_status``, ``unauthorized``, ``invalid_response``…) when all attempts fail."""
        try:
            return _variants(_native.fetch(self._id, _request(user, None)))
        except AllotError as e:
            logger.error("[Experiment] Failed to fetch variants: %s", e)
            raise

    def fetch(self, user: User) -> Dict[str, Variant]:
        """Deprecated: like :meth:`fetch_v2` without default variants; ``{}`` on failure."""
        try:
            variants = self.fetch_v2(user)
        except AllotError:
            return {}
        return {k: v for k, v in variants.items() if not _is_default(v)}

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self._POOL_SIZE, thread_name_prefix="allot-fetch")
            return self._executor

    def fetch_async_v2(self, user: User, callback: Optional[Callable[..., Any]] = None) -> Future[Dict[str, Variant]]:
        """Fetches on a small thread pool, then calls ``callback(user, variants)``. On
        failure the callback gets ``(user, {}, error)`` when it accepts a third argument
        (as Amplitude's SDK); otherwise the error is logged. Returns a ``Future``."""

        def run() -> Dict[str, Variant]:
            try:
                variants = self.fetch_v2(user)
            except Exception as e:  # noqa: BLE001 - handed to the callback
                if callback is not None:
                    if _accepts_three(callback):
                        callback(user, {}, e)
                    else:
                        logger.error("[Experiment] async fetch failed: %s", e)
                raise
            if callback is not None:
                callback(user, variants)
            return variants

        return self._pool().submit(run)

    def close(self) -> None:
        """Frees the native client and stops the thread pool."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self._handle.close()
        with _factory_lock:
            if _remote_instances.get(self.api_key) is self:
                del _remote_instances[self.api_key]

    def _after_fork(self) -> None:
        # The parent's worker threads do not exist in the child: start a new pool lazily.
        self._lock = threading.Lock()
        self._executor = None

    def __enter__(self) -> RemoteEvaluationClient:
        return self

    def __exit__(self, *exit_info: Any) -> None:
        self.close()


def _accepts_three(fn: Callable[..., Any]) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    positional = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 3


_factory_lock = threading.Lock()
_local_instances: Dict[str, LocalEvaluationClient] = {}
_remote_instances: Dict[str, RemoteEvaluationClient] = {}
_remote_clients: weakref.WeakSet[RemoteEvaluationClient] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    global _factory_lock
    _factory_lock = threading.Lock()
    for client in list(_remote_clients):
        client._after_fork()


register_fork_child(_after_fork_in_child)


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
