"""Differential testing with the vendors' SDKs as the oracle: one scenario runs against
the vendor package and against allot's, each with its own flag server on 127.0.0.1, and
what a program can observe is compared: return values with their types, exception types,
log records (logger name and level, WARNING and above), requests on the wire and events.

Normalisations (the documented identity fields): the ``library`` field of users and
events, ``X-Amp-Exp-Library``/``User-Agent`` headers, the SDK name and versions in Eppo's
query and ``metaData``, timestamps and unset (``null``) user fields."""

from __future__ import annotations

import enum
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from conftest import FlagServer

#: Request headers compared (the others are transport details).
HEADERS = ("authorization", "content-type", "x-amp-exp-track", "x-amp-exp-exposure-track", "x-amp-exp-flag-keys")
#: Query parameters that name the SDK (allot names itself).
IDENTITY_QUERY = ("sdkName", "sdkVersion", "coreVersion")
#: Event and user fields that identify the sender or the moment.
IDENTITY_FIELDS = ("library", "timestamp", "time", "uuid", "metaData", "event_id", "session_id")

#: Builtin exception classes an SDK's exception is compared by (most specific first).
BUILTIN_KINDS = (TimeoutError, ConnectionError, PermissionError, TypeError, KeyError, ValueError, RuntimeError)


def kind(error: BaseException) -> str:
    """What a program can catch: the SDK's own class name, or the builtin class."""
    names = [c.__name__ for c in type(error).__mro__]
    for own in ("FetchException",):
        if own in names:
            return own
    for builtin in BUILTIN_KINDS:
        if isinstance(error, builtin):
            return builtin.__name__
    return "Exception"


def typed(value: Any) -> Any:
    """A value with its types made explicit (43 and 43.0 differ)."""
    if isinstance(value, dict):
        return {"dict": {str(k): typed(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [typed(v) for v in value]
        if isinstance(value, (set, frozenset)):
            items = sorted(items, key=repr)
        return {type(value).__name__: items}
    if isinstance(value, enum.Enum):
        return {"enum": [type(value).__name__, value.value]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return [type(value).__name__, value]
    name = type(value).__name__
    if name == "Variant":
        fields = {"key": value.key, "value": value.value, "payload": value.payload, "metadata": value.metadata}
        return {"Variant": typed(fields)}
    if name in ("EvaluationResult",):
        return {name: typed([value.variation, value.action, _details(value.evaluation_details)])}
    if name == "User":
        return {"User": typed({k: v for k, v in vars(value).items() if k not in IDENTITY_FIELDS and v is not None})}
    return {"object": name}


def _details(details: Any) -> Any:
    if not isinstance(details, dict):
        return details
    # Timestamps differ by nature.
    drop = ("timestamp", "configFetchedAt", "configPublishedAt")
    # allot's own keys (kept beside the vendor's) are left out of the comparison.
    extra = ("matchedRule", "matchedAllocation", "unmatchedAllocations", "unevaluatedAllocations")
    return {k: v for k, v in details.items() if k not in drop + extra}


def strip_identity(doc: Any) -> Any:
    """Drops identity fields and nulls from a JSON document, recursively."""
    if isinstance(doc, dict):
        return {k: strip_identity(v) for k, v in doc.items() if k not in IDENTITY_FIELDS and v is not None}
    if isinstance(doc, list):
        return [strip_identity(v) for v in doc]
    return doc


def wire(server: FlagServer) -> List[Any]:
    """The requests a server received, normalised; event uploads keep only their events."""
    out = []
    with server.lock:
        requests = list(server.requests)
    for r in requests:
        query = {k: v for k, v in r["query"].items() if k not in IDENTITY_QUERY}
        headers = {k: v for k, v in r["headers"].items() if k in HEADERS}
        body: Any = r["body"]
        if body:
            try:
                body = strip_identity(json.loads(body))
            except ValueError:
                body = body.decode("utf-8", "replace")
        if r["path"] in ("/2/httpapi", "/batch") and isinstance(body, dict):
            headers.pop("content-type", None)
            body = {k: body.get(k) for k in ("api_key", "events", "options")}
        out.append({"method": r["method"], "path": r["path"], "query": query, "headers": headers, "body": body})
    return out


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: List[Tuple[str, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in ("Amplitude", "amplitude", "eppo"):
            self.seen.append((record.name, record.levelno))


@dataclass
class Observed:
    """What one side of a scenario showed."""

    steps: List[Any] = field(default_factory=list)
    logs: List[Tuple[str, int]] = field(default_factory=list)
    requests: List[Any] = field(default_factory=list)
    events: List[Any] = field(default_factory=list)


class Recorder:
    """Runs the steps of a scenario and records what each returned or raised."""

    def __init__(self) -> None:
        self.observed = Observed()

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        try:
            value = fn()
        except Exception as e:  # noqa: BLE001 - the exception type is the observation
            self.observed.steps.append((name, "raises", kind(e)))
            return None
        self.observed.steps.append((name, "returns", typed(value)))
        return value

    def event(self, event: Dict[str, Any]) -> None:
        self.observed.events.append(strip_identity(event))


def run(
    scenario: Callable[[Any, FlagServer, Recorder], None], sdk: Any, setup: Callable[[FlagServer], None]
) -> Observed:
    """Runs ``scenario(sdk, server, recorder)`` with a fresh flag server prepared by ``setup``."""
    server = FlagServer()
    setup(server)
    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    recorder = Recorder()
    try:
        scenario(sdk, server, recorder)
    finally:
        root.removeHandler(records)
        server.close()
    recorder.observed.logs = sorted(set(records.seen))
    recorder.observed.requests = wire(server)
    return recorder.observed


def compare(vendor: Observed, ours: Observed, requests: bool = True, order: bool = True) -> None:
    """Asserts that allot showed what the vendor showed."""
    assert ours.steps == vendor.steps
    assert ours.logs == vendor.logs
    assert ours.events == vendor.events
    if requests:
        mine, theirs = ours.requests, vendor.requests
        if not order:
            mine, theirs = sorted(mine, key=repr), sorted(theirs, key=repr)
        assert mine == theirs


def wait_for(predicate: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Polls ``predicate`` until it holds (True) or ``seconds`` pass (False)."""
    done = threading.Event()
    deadline = seconds
    step = 0.01
    while deadline > 0:
        if predicate():
            return True
        done.wait(step)
        deadline -= step
    return predicate()


def sdk_modules(vendor: bool) -> Dict[str, Any]:
    """The modules a program imports, from the vendor or from allot."""
    import importlib

    if vendor:
        names = {"amplitude": "amplitude_experiment", "eppo": "eppo_client"}
    else:
        names = {"amplitude": "allot.amplitude", "eppo": "allot.eppo"}
    return {k: importlib.import_module(v) for k, v in names.items()}


def optional(module: str) -> Optional[Any]:
    try:
        import importlib

        return importlib.import_module(module)
    except ImportError:
        return None
