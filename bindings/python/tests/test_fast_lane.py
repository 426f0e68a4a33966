"""The fast lane (allot_evaluate_compact + allot_result_json, through PyDLL) gives what the
JSON path (allot_evaluate) gives: the corpus and the fixture, threads, a fork, and
configurations swapped under a client."""

from __future__ import annotations

import inspect
import json
import marshal
import os
import threading

import pytest

import allot.eppo as eppo
from allot import _native
from allot.amplitude import (
    EvaluateOptions,
    LocalEvaluationClient,
    LocalEvaluationConfig,
    User,
    Variant,
    _fields,
    _is_default,
    _request,
    _user_json,
    _user_marshal,
    _variants,
)
from allot.eppo import _typed_value
from allot.eppo.config import Config, Configuration

from conftest import load_json, needs, shared


def json_path(client: LocalEvaluationClient, user: User, keys):
    return _variants(_native.evaluate(client._id, _request(user, keys)))


def as_tuples(variants):
    return {flag: (v.key, v.value, v.payload, v.metadata) for flag, v in variants.items()}


@pytest.mark.parametrize("name", ["dependencies_fixture.json", "generated_corpus.json"])
def test_fast_lane_matches_the_json_path(name):
    data = load_json(shared("conformance", "amplitude", name))
    compared = 0
    with LocalEvaluationClient("server-key", LocalEvaluationConfig(flags=data["flags"])) as client:
        client.start()
        for i, case in enumerate(data["cases"]):
            user = User(**case["user"])
            fast = client.evaluate_v2(user, case.get("flag_keys"))
            assert as_tuples(fast) == as_tuples(json_path(client, user, case.get("flag_keys"))), f"case {i}"
            compared += len(fast)
    assert compared >= (12_542 if name == "generated_corpus.json" else 6)


def test_a_users_fast_lane_json_is_the_json_of_its_fields():
    users = [
        User(**case["user"]) for case in load_json(shared("conformance", "amplitude", "generated_corpus.json"))["cases"]
    ]
    odd = User(device_id='é"\n\u2028', user_id="", country=None, user_properties={"n": [1, 2.5, None, True]})
    odd.groups = {"org": ["a"]}
    odd.not_a_field = "left out"
    users.append(odd)
    for user in users:
        assert _user_json(user) == _native.compact_json(_fields(user)), user
    assert b"not_a_field" not in _user_json(odd) and b'"user_id":""' in _user_json(odd)
    assert _user_json({"device_id": "d", "user_id": None}) == b'{"device_id":"d"}'


def fixture_client() -> LocalEvaluationClient:
    data = load_json(shared("conformance", "amplitude", "dependencies_fixture.json"))
    client = LocalEvaluationClient("server-key", LocalEvaluationConfig(flags=data["flags"]))
    client.start()
    return client


def marshal_answer(client: LocalEvaluationClient, user: User) -> int:
    """What ``allot_evaluate_compact_marshal`` returns for the user's tuple."""
    packed, size = _user_marshal(user)
    b = _native.buffers
    return _native.evaluate_compact_marshal_raw(client._handle_arg, packed, size, None, b.buf, b.capacity)


def test_users_go_as_a_marshalled_tuple_in_the_documented_order():
    # The tuple follows the constructor's parameters (the Python SDK's order), which the
    # library reads positionally (include/allot.h, allot_evaluate_compact_marshal).
    assert User._FIELDS == tuple(inspect.signature(User.__init__).parameters)[1:]
    client = fixture_client()
    user = User(device_id="d", user_id="u", user_properties={"n": [1, 2.5, None, True]})
    packed, _ = _user_marshal(user)
    assert marshal.loads(packed) == tuple(getattr(user, f) for f in User._FIELDS)
    assert marshal_answer(client, user) > 0
    assert _user_marshal({"user_id": "u"}) is None  # dicts go as JSON
    client.stop()


def test_users_the_tuple_cannot_carry_fall_back_to_json_with_the_same_answers():
    client = fixture_client()
    deleted = User(device_id="d", user_id="u")
    del deleted.city  # a field gone: no tuple
    int_keys = User(user_id="u", user_properties={1: "a"})  # JSON writes the key as "1"
    big = User(user_id="u", user_properties={"n": 2**70})  # beyond 64 bits
    subclass = User(user_id=type("Name", (str,), {})("u"))  # marshal writes exact types only
    groups = User(user_id="u", groups={"org": ("acme",)}, cohort_ids=["c1"])
    assert _user_marshal(deleted) is None and _user_marshal(subclass) is None
    assert marshal_answer(client, int_keys) < 0 and marshal_answer(client, big) < 0  # refused
    assert marshal_answer(client, groups) > 0
    for user in (deleted, int_keys, big, subclass, groups):
        assert as_tuples(client.evaluate_v2(user)) == as_tuples(json_path(client, user, None)), user
    # What JSON cannot say either is the JSON path's error, as before.
    with pytest.raises(TypeError):
        client.evaluate_v2(User(user_id="u", user_properties={"s": {1, 2}}))
    with pytest.raises(UnicodeEncodeError):
        client.evaluate_v2(User(user_id="\ud800"))
    client.stop()


def test_returned_variants_are_fresh():
    client = fixture_client()
    user = User(device_id="device_id", user_id="user_id")
    want = as_tuples(json_path(client, user, None))
    assert any(isinstance(v.payload, dict) for v in client.evaluate_v2(user).values())
    for variant in client.evaluate_v2(user).values():
        assert type(variant) is Variant
        variant.metadata["mutated"] = True
        if isinstance(variant.payload, dict):
            for value in variant.payload.values():
                if isinstance(value, list):
                    value.append("mutated")
            variant.payload["mutated"] = True
        variant.value = variant.key = "mutated"
    assert as_tuples(client.evaluate_v2(user)) == want
    with pytest.warns(DeprecationWarning):
        evaluated = client.evaluate(user)
    assert as_tuples(evaluated) == {k: v for k, v in want.items() if not _is_default(Variant(metadata=v[3]))}
    client.stop()


def test_snapshot_ids_differ_between_clients_and_results_stay_per_client():
    data = load_json(shared("conformance", "amplitude", "dependencies_fixture.json"))
    first = LocalEvaluationClient("k1", LocalEvaluationConfig(flags=data["flags"]))
    second = LocalEvaluationClient("k2", LocalEvaluationConfig(flags=data["flags"][:1]))
    first.start()
    second.start()
    user = User(**data["cases"][0]["user"])
    fields = _fields(user)
    a, ids = _native.evaluate_compact(_native.handle_arg(first._id), fields, None)
    b, _ = _native.evaluate_compact(_native.handle_arg(second._id), fields, None)
    assert a and b and a != b
    assert ids
    # A snapshot that is not the client's current one answers None: evaluate again.
    assert _native.result_json(first._id, b, ids[0]) is None
    assert _native.result_json(first._id, a, ids[0])["variant"]
    assert len(second.evaluate_v2(user)) < len(first.evaluate_v2(user))
    first.stop()
    second.stop()


def test_threads_and_a_forked_child_get_the_same_answers():
    data = load_json(shared("conformance", "amplitude", "generated_corpus.json"))
    client = LocalEvaluationClient("k", LocalEvaluationConfig(flags=data["flags"]))
    client.start()
    users = [User(**case["user"]) for case in data["cases"][:40]]
    want = [as_tuples(json_path(client, u, None)) for u in users]
    failures = []

    def check() -> None:
        for user, expected in zip(users, want):
            if as_tuples(client.evaluate_v2(user)) != expected:
                failures.append(user)

    threads = [threading.Thread(target=check) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    if hasattr(os, "fork"):
        pid = os.fork()
        if pid == 0:
            check()
            os._exit(1 if failures else 0)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    client.stop()


class Recorder(eppo.AssignmentLogger):
    def __init__(self) -> None:
        self.events = []

    def log_assignment(self, assignment_event):
        self.events.append(assignment_event)

    def take(self):
        events, self.events = self.events, []
        for event in events:
            assert event.pop("timestamp").endswith("Z")
        return events


TYPED = {
    "STRING": "get_string_assignment",
    "BOOLEAN": "get_boolean_assignment",
    "INTEGER": "get_integer_assignment",
    "NUMERIC": "get_numeric_assignment",
    "JSON": "get_json_assignment",
}


@pytest.mark.parametrize("flags_file", ["flags-v1.json", "flags-v1-obfuscated.json"])
def test_eppo_fast_lane_values_and_events_match_the_json_path(flags_file):
    needs("eppo")
    text = shared("conformance", "eppo", flags_file).read_bytes()
    recorder = Recorder()
    config = Config(
        api_key="sdk-key", assignment_logger=recorder, initial_configuration=Configuration(flags_configuration=text)
    )
    client = eppo.EppoClient(config)
    client.wait_for_initialization(timeout=5)
    events = 0
    for path in sorted(shared("conformance", "eppo", "tests").glob("*.json")):
        case = load_json(path)
        vtype, flag, default = case["variationType"], case["flag"], case["defaultValue"]
        for s in case["subjects"]:
            key, attrs = s["subjectKey"], s["subjectAttributes"]
            fast = getattr(client, TYPED[vtype])(flag, key, attrs, default)
            fast_events = recorder.take()
            result = client._assign(vtype, flag, key, attrs, default)  # the JSON path
            slow_events = recorder.take()
            # What the JSON path answers: the default without a variation, NUMERIC as float.
            want = default if result["variation_key"] is None else _typed_value(vtype, result["value"])
            assert fast == want and type(fast) is type(want), f"{path.name} {key}"
            assert fast_events == slow_events, f"{path.name} {key}"
            events += len(fast_events)
            # Mutating what was returned or logged changes nothing later.
            if isinstance(fast, dict):
                fast["mutated"] = True
            for event in fast_events:
                event["subjectAttributes"]["mutated"] = True
            assert getattr(client, TYPED[vtype])(flag, key, attrs, default) == want
            assert "mutated" not in attrs
            recorder.take()
    assert events > 0


def fast_lane_only_eppo_client(monkeypatch) -> eppo.EppoClient:
    """An Eppo client on flags-v1.json whose JSON path fails every call it gets."""
    needs("eppo")
    text = shared("conformance", "eppo", "flags-v1.json").read_bytes()
    client = eppo.EppoClient(Config(api_key="k", initial_configuration=Configuration(flags_configuration=text)))
    client.wait_for_initialization(timeout=5)

    def refuse(*args):
        raise AssertionError("the JSON path was called")

    monkeypatch.setattr(_native, "evaluate_raw", refuse)
    return client


def test_eppo_defaults_warnings_and_errors_come_from_the_compact_answer(monkeypatch, caplog):
    """An assignment that ends in the default is answered from the fast lane's code
    alone: the JSON path is never called, and the SDK's warnings and errors still come."""
    client = fast_lane_only_eppo_client(monkeypatch)
    assert client.get_numeric_assignment("numeric_flag", "alice", {}, 0.0) == 3.1415926
    assert client.get_string_assignment("no-such-flag", "alice", {}, "fallback") == "fallback"
    assert client.get_string_assignment("alice", "no-such-flag") is None  # the older convention
    with caplog.at_level("WARNING", logger="eppo"):
        assert client.get_string_assignment("numeric_flag", "alice", {}, "fallback") == "fallback"
    assert "invalid flag type (expected: String)" in caplog.text
    client._is_graceful_mode = False
    with pytest.raises(RuntimeError, match="invalid flag type"):
        client.get_string_assignment("numeric_flag", "alice", {}, "fallback")


def test_eppo_set_configuration_keeps_assignments_on_the_fast_lane(monkeypatch):
    """A configuration set on a running client is served by the fast lane too: the new
    flags' values, with the JSON path refused throughout."""
    client = fast_lane_only_eppo_client(monkeypatch)
    assert client.get_numeric_assignment("numeric_flag", "alice", {}, 0.0) == 3.1415926
    doc = load_json(shared("conformance", "eppo", "flags-v1.json"))
    doc["flags"] = {"numeric_flag": doc["flags"]["numeric_flag"]}
    for variation in doc["flags"]["numeric_flag"]["variations"].values():
        variation["value"] = 2.5
    client.set_configuration(Configuration(flags_configuration=json.dumps(doc).encode()))
    client.wait_for_initialization(timeout=5)
    assert client.get_numeric_assignment("numeric_flag", "alice", {}, 0.0) == 2.5
    assert client.get_string_assignment("kill-switch", "alice", {"country": "US"}, "gone") == "gone"


def test_exposure_tracking_calls_take_the_fast_lane(monkeypatch):
    """``EvaluateOptions(tracks_exposure=True)`` is a fast-lane option too: the same
    variants as the JSON path, with the JSON path refused."""
    data = load_json(shared("conformance", "amplitude", "dependencies_fixture.json"))
    with LocalEvaluationClient("server-key", LocalEvaluationConfig(flags=data["flags"])) as client:
        client.start()
        cases = [(User(**case["user"]), keys) for case in data["cases"] for keys in (None, [data["flags"][0]["key"]])]
        want = [as_tuples(json_path(client, user, keys)) for user, keys in cases]

        def refuse(*args):
            raise AssertionError("the JSON path was called")

        monkeypatch.setattr(_native, "evaluate_raw", refuse)
        exposing = EvaluateOptions(tracks_exposure=True)
        assert [as_tuples(client.evaluate_v2(user, keys, exposing)) for user, keys in cases] == want
