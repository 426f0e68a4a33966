"""Cohort sync, differentially: the same flags and the same cohort server answers (user
and group cohorts, 202, 429, 500, 413, a cohort that keeps failing) through
amplitude-experiment 1.13.0's ``CohortSyncConfig`` and through allot's Python client;
every variant of every user must be the same. Both talk to one real HTTP server on
127.0.0.1 (the flag endpoint and the cohort endpoint)."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple
from urllib.parse import parse_qs, urlparse

import pytest

from allot import amplitude as allot_amplitude

vendor = pytest.importorskip("amplitude_experiment", reason="amplitude-experiment is a test requirement")

DEPLOYMENT_KEY = "server-deployment-key"
API_KEY = "project-api-key"
SECRET_KEY = "project-secret-key"


def cohort_flag(key: str, selector: List[str], op: str, ids: List[str]) -> Dict[str, Any]:
    return {
        "key": key,
        "metadata": {"flagType": "release", "flagVersion": 3, "deployed": True, "evaluationMode": "local"},
        "variants": {
            "on": {"key": "on", "value": "on"},
            "off": {"key": "off", "metadata": {"default": True}},
        },
        "segments": [
            {"conditions": [[{"selector": selector, "op": op, "values": ids}]], "variant": "on"},
            {"variant": "off"},
        ],
    }


USER = ["context", "user", "cohort_ids"]
ORG = ["context", "groups", "org", "cohort_ids"]
TEAM = ["context", "groups", "team", "cohort_ids"]

FLAGS = [
    cohort_flag("user-flag", USER, "set contains any", ["c-user"]),
    cohort_flag("two-cohorts", USER, "set contains any", ["c-user", "c-busy"]),
    cohort_flag("not-flag", USER, "set does not contain any", ["c-user"]),
    cohort_flag("org-flag", ORG, "set contains any", ["c-org"]),
    cohort_flag("org-not-flag", ORG, "set does not contain any", ["c-org"]),
    cohort_flag("team-flag", TEAM, "set contains any", ["c-team"]),
    cohort_flag("busy-flag", USER, "set contains any", ["c-busy"]),
    cohort_flag("throttled-flag", USER, "set contains any", ["c-throttled"]),
    cohort_flag("flaky-flag", USER, "set contains any", ["c-flaky"]),
    cohort_flag("large-flag", USER, "set contains any", ["c-large"]),
    cohort_flag("broken-flag", USER, "set contains any", ["c-broken"]),
    cohort_flag("broken-not-flag", USER, "set does not contain any", ["c-broken"]),
    cohort_flag("mixed-flag", ORG, "set contains any", ["c-user"]),
]

#: Per cohort: (statuses answered first, group type, members).
COHORTS: Dict[str, Tuple[List[int], str, List[str]]] = {
    "c-user": ([], "User", ["alice", "carol"]),
    "c-busy": ([202, 202], "User", ["bob", "carol"]),
    "c-throttled": ([429], "User", ["bob"]),
    "c-flaky": ([500], "User", ["bob"]),
    "c-large": ([413], "User", ["alice"]),
    "c-broken": ([500] * 50, "User", ["alice"]),
    "c-org": ([], "org", ["acme", "alice"]),
    "c-team": ([], "team", ["t1"]),
}

USERS: List[Dict[str, Any]] = [
    {"user_id": "alice"},
    {"user_id": "bob"},
    {"user_id": "carol", "device_id": "d1"},
    {"user_id": "dave"},
    {"device_id": "no-user-id"},
    {"user_id": "x", "groups": {"org": ["acme"]}},
    {"user_id": "x", "groups": {"org": ["other", "acme"]}},
    {"user_id": "alice", "groups": {"org": ["alice"], "team": ["t1"]}},
    {"user_id": "x", "groups": {"team": ["t2"]}},
]


class CohortServer:
    """Serves ``FLAGS`` and ``COHORTS``; each client (told apart by its library header)
    gets its own sequence of statuses, so both see the same answers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sequences: Dict[Tuple[str, str], List[int]] = {}
        self.requests: List[Tuple[str, Dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                url = urlparse(self.path)
                with outer.lock:
                    outer.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                if url.path == "/sdk/v2/flags":
                    return self.reply(200, json.dumps(FLAGS).encode())
                prefix = "/sdk/v1/cohort/"
                cohort_id = url.path[len(prefix) :] if url.path.startswith(prefix) else ""
                if cohort_id not in COHORTS:
                    return self.reply(404, b"{}")
                before, group_type, members = COHORTS[cohort_id]
                client = (self.headers.get("X-Amp-Exp-Library") or "").split("/")[0]
                with outer.lock:
                    queue = outer.sequences.setdefault((client, cohort_id), list(before))
                    status = queue.pop(0) if queue else 200
                if status != 200:
                    return self.reply(status, b"")
                last_modified = parse_qs(url.query).get("lastModified")
                if last_modified == ["1"]:
                    return self.reply(204, b"")
                body = {
                    "cohortId": cohort_id,
                    "groupType": group_type,
                    "groupTypeId": 0,
                    "lastModified": 1,
                    "size": len(members),
                    "memberIds": members,
                }
                self.reply(200, json.dumps(body).encode())

            def reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def server():
    s = CohortServer()
    yield s
    s.close()


def comparable(variants: Dict[str, Any]) -> Dict[str, Any]:
    return {k: (v.key, v.value, v.payload, v.metadata) for k, v in variants.items()}


def test_cohort_sync_matches_amplitude_experiment(server: CohortServer) -> None:
    theirs = vendor.LocalEvaluationClient(
        DEPLOYMENT_KEY,
        vendor.LocalEvaluationConfig(
            server_url=server.url,
            cohort_sync_config=vendor.CohortSyncConfig(API_KEY, SECRET_KEY, cohort_server_url=server.url),
        ),
    )
    ours = allot_amplitude.LocalEvaluationClient(
        DEPLOYMENT_KEY,
        allot_amplitude.LocalEvaluationConfig(
            server_url=server.url,
            cohort_sync_config=allot_amplitude.CohortSyncConfig(API_KEY, SECRET_KEY, cohort_server_url=server.url),
        ),
    )
    theirs.start()
    ours.start()
    try:
        checked = 0
        for fields in USERS:
            expected = comparable(theirs.evaluate_v2(vendor.User(**fields)))
            got = comparable(ours.evaluate_v2(allot_amplitude.User(**fields)))
            assert got == expected, fields
            checked += len(expected)
        assert checked == len(USERS) * len(FLAGS)
        # The scenario is not vacuous: cohorts decide some variants each way.
        alice = comparable(ours.evaluate_v2(allot_amplitude.User(user_id="alice")))
        assert alice["user-flag"][0] == "on" and alice["not-flag"][0] == "off"
        assert alice["large-flag"][0] == "off" and alice["broken-not-flag"][0] == "on"
        bob = comparable(ours.evaluate_v2(allot_amplitude.User(user_id="bob")))
        assert bob["busy-flag"][0] == "on" and bob["flaky-flag"][0] == "on" and bob["throttled-flag"][0] == "on"

        status = ours.status()["cohort_sync"]
        assert status["cohorts"]["c-large"]["last_error"]["code"] == "http_status"
        assert status["cohorts"]["c-broken"]["last_error"]["code"] == "http_status"
        assert status["cohorts"]["c-user"]["member_count"] == 2
        assert SECRET_KEY not in json.dumps(status)
    finally:
        theirs.stop()
        ours.stop()

    credentials = base64.b64encode(f"{API_KEY}:{SECRET_KEY}".encode()).decode()
    cohort_requests = [h for path, h in server.requests if path.startswith("/sdk/v1/cohort/")]
    assert cohort_requests
    assert all(h.get("authorization") == f"Basic {credentials}" for h in cohort_requests)


def test_cohort_sync_config_defaults_and_what_is_sent() -> None:
    config = allot_amplitude.CohortSyncConfig(API_KEY, SECRET_KEY)
    reference = vendor.CohortSyncConfig(API_KEY, SECRET_KEY)
    for name in ("max_cohort_size", "cohort_polling_interval_millis", "cohort_server_url"):
        assert getattr(config, name) == getattr(reference, name), name
    # Only what the caller set is sent; the library owns the defaults.
    assert config._to_json() == {"api_key": API_KEY, "secret_key": SECRET_KEY}
    assert SECRET_KEY not in repr(config) and API_KEY not in repr(config)
    # The server zone picks the cohort server when no URL is given; the library raises a
    # polling interval below 60 s to 60 s, as the SDK does.
    fast = allot_amplitude.CohortSyncConfig(API_KEY, SECRET_KEY, cohort_polling_interval_millis=10)
    slow = vendor.CohortSyncConfig(API_KEY, SECRET_KEY, cohort_polling_interval_millis=10)
    assert slow.cohort_polling_interval_millis == 60000
    # docs/python.md, row "rules owned by the library": the object keeps the value given.
    assert fast.cohort_polling_interval_millis == 10
    client = allot_amplitude.LocalEvaluationClient(
        DEPLOYMENT_KEY,
        allot_amplitude.LocalEvaluationConfig(server_zone=allot_amplitude.ServerZone.EU, cohort_sync_config=fast),
    )
    try:
        cohort_sync = client.status()["cohort_sync"]
        assert cohort_sync["server_url"] == "https://cohort-v2.lab.eu.amplitude.com"
        assert cohort_sync["polling_interval_millis"] == 60000
    finally:
        client.stop()
