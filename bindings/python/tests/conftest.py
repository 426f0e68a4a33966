"""Shared fixtures: paths to the repository and ../shared, capability probes of the loaded
liballot, and a real HTTP flag server on 127.0.0.1 serving the Amplitude flag and vardata
endpoints and the Eppo configuration endpoint."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import parse_qs, urlparse

import pytest

pytest.register_assert_rewrite("differential")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
SHARED = Path(os.environ.get("ALLOT_SHARED_DIR", REPO.parent / "shared"))

DEPLOYMENT_KEY = "<DEPLOYMENT_KEY>"


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is missing (../shared beside the repository)")
    return path


def load_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------
# Capabilities of the loaded library (parts of the core land separately)
# ---------------------------------------------------------------------------------------


def _probe(config: Dict[str, Any], start: bool = False) -> Optional[str]:
    """None when the library accepts ``config`` (and starts it), else the error."""
    from allot import _native

    try:
        handle = _native.init(config)
    except _native.AllotError as e:
        return str(e)
    try:
        if start:
            _native.start(handle, 0)
    except _native.AllotTimeoutError:
        pass
    except _native.AllotError as e:
        return str(e)
    finally:
        _native.free(handle)
    return None


def _unsupported_reason(kind: str) -> Optional[str]:
    closed = "http://127.0.0.1:9"
    if kind == "remote":
        err = _probe({"provider": "amplitude", "mode": "remote", "api_key": "k", "server_url": closed})
    elif kind == "local_network":
        err = _probe({"provider": "amplitude", "mode": "local", "api_key": "k", "server_url": closed})
    elif kind == "eppo":
        ufc = {"format": "SERVER", "createdAt": "2024-01-01T00:00:00Z", "environment": {"name": "t"}, "flags": {}}
        err = _probe({"provider": "eppo", "api_key": "k", "initial_configuration": ufc}, start=True)
    elif kind == "eppo_network":
        err = _probe({"provider": "eppo", "api_key": "k", "base_url": closed}, start=True)
    elif kind == "cookie":
        from allot import _native

        err = None if _native.has("allot_cookie_name") else "liballot exports no allot_cookie_* functions"
    else:
        raise ValueError(kind)
    return None if err is None else f"the loaded liballot lacks {kind}: {err}"


_REASONS: Dict[str, Optional[str]] = {}


def needs(*kinds: str) -> None:
    """Skips the test when the loaded library lacks one of the features."""
    for kind in kinds:
        if kind not in _REASONS:
            _REASONS[kind] = _unsupported_reason(kind)
        if _REASONS[kind]:
            if os.environ.get("ALLOT_REQUIRE_ALL") == "1":
                pytest.fail(_REASONS[kind])
            pytest.skip(_REASONS[kind])


# ---------------------------------------------------------------------------------------
# The flag server
# ---------------------------------------------------------------------------------------


def amplitude_flag(key: str, variant: str = "on", value: Optional[str] = None, payload: Any = None) -> Dict[str, Any]:
    """A flag that gives every user ``variant`` (and ``off`` as the default variant)."""
    on: Dict[str, Any] = {"key": variant, "value": value if value is not None else variant}
    if payload is not None:
        on["payload"] = payload
    return {
        "key": key,
        "metadata": {"deployed": True, "evaluationMode": "local", "flagType": "release", "flagVersion": 1},
        "segments": [{"metadata": {"segmentName": "All Users"}, "variant": variant}],
        "variants": {variant: on, "off": {"key": "off", "metadata": {"default": True}}},
    }


def premium_flag(key: str) -> Dict[str, Any]:
    """``on`` for users whose ``premium`` property is true, else the default ``off``."""
    flag = amplitude_flag(key)
    flag["segments"] = [
        {
            "metadata": {"segmentName": "Premium"},
            "conditions": [
                [{"selector": ["context", "user", "user_properties", "premium"], "op": "is", "values": ["true"]}]
            ],
            "variant": "on",
        },
        {"metadata": {"segmentName": "All Other Users"}, "variant": "off"},
    ]
    return flag


def eppo_flag(key: str, variation: Any, variation_type: str = "STRING", do_log: bool = True) -> Dict[str, Any]:
    """A UFC flag that assigns ``variation`` to every subject."""
    vkey = str(variation).lower()
    return {
        "key": key,
        "enabled": True,
        "variationType": variation_type,
        "variations": {vkey: {"key": vkey, "value": variation}},
        "allocations": [
            {
                "key": "everyone",
                "rules": [],
                "splits": [{"variationKey": vkey, "shards": []}],
                "doLog": do_log,
            }
        ],
        "totalShards": 10000,
    }


class FlagServer:
    """A threaded HTTP server: ``/sdk/v2/flags``, ``/sdk/v2/vardata``,
    ``/flag-config/v1/config``. Behaviour per API key is set in ``behaviours``:
    ``"unauthorized"``, ``"status_500"``, ``"status_404"``, ``"garbage"``, ``"slow"``."""

    def __init__(self) -> None:
        self.amplitude_flags: List[Dict[str, Any]] = []
        self.remote_variants: Callable[[Dict[str, Any]], Dict[str, Any]] = lambda user: {}
        self.ufc: Dict[str, Any] = {
            "format": "SERVER",
            "createdAt": "2024-01-01T00:00:00.000Z",
            "environment": {"name": "Test"},
            "flags": {},
        }
        self.behaviours: Dict[str, str] = {}
        #: The analytics endpoint's answer: (status, body).
        self.analytics_answer = (200, b'{"code":200}')
        self.slow_seconds = 3.0
        self.requests: List[Dict[str, Any]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                auth = self.headers.get("Authorization", "")
                query = parse_qs(url.query)
                key = auth[len("Api-Key ") :] if auth.startswith("Api-Key ") else query.get("apiKey", [""])[0]
                with server.lock:
                    server.requests.append(
                        {
                            "method": method,
                            "path": url.path,
                            "query": query,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                            "key": key,
                        }
                    )
                behaviour = server.behaviours.get(key)
                if behaviour == "unauthorized":
                    return self._reply(401, b'{"error":"invalid api key"}')
                if behaviour == "status_500":
                    return self._reply(500, b"internal error")
                if behaviour == "status_404":
                    return self._reply(404, b"not found")
                if behaviour == "garbage":
                    return self._reply(200, b"<html>not json")
                if behaviour == "slow":
                    time.sleep(server.slow_seconds)
                if method == "GET" and url.path == "/sdk/v2/flags":
                    return self._reply(200, json.dumps(server.amplitude_flags).encode())
                if method == "POST" and url.path == "/sdk/v2/vardata":
                    doc = json.loads(body or b"{}")
                    user = doc.get("user", doc) if isinstance(doc, dict) else {}
                    return self._reply(200, json.dumps(server.remote_variants(user)).encode())
                if method == "GET" and url.path == "/flag-config/v1/config":
                    return self._reply(200, json.dumps(server.ufc).encode())
                if method == "POST" and url.path == "/2/httpapi":
                    return self._reply(*server.analytics_answer)
                return self._reply(404, b"no such endpoint")

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="flag-server", daemon=True)
        self.thread.start()

    def requests_to(self, path: str) -> List[Dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def flag_server(monkeypatch: pytest.MonkeyPatch):
    """A fresh flag server; the default Amplitude and Eppo server URLs point at it."""
    server = FlagServer()
    monkeypatch.setenv("ALLOT_AMPLITUDE_SERVER_URL", server.url)
    monkeypatch.setenv("ALLOT_EPPO_BASE_URL", server.url)
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _fresh_singletons():
    """Each test gets fresh Experiment/Eppo singletons; clients are freed afterwards."""
    yield
    import allot.amplitude as amplitude
    import allot.eppo as eppo

    for client in list(amplitude._local_instances.values()):
        client._handle.close()
    for client in list(amplitude._remote_instances.values()):
        client.close()
    amplitude._local_instances.clear()
    amplitude._remote_instances.clear()
    if eppo._instance is not None:
        eppo._instance._finalizer()
        eppo._instance = None
