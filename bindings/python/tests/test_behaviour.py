"""Behaviour users rely on: fork, threads, memory, logging, singletons, context managers,
the Eppo conventions and logger isolation."""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
from typing import Any, Dict, List

import pytest

import allot
import allot.eppo as eppo
from allot.amplitude import (
    AssignmentConfig,
    Experiment,
    LocalEvaluationClient,
    LocalEvaluationConfig,
    RemoteEvaluationConfig,
    User,
    Variant,
)
from allot.eppo.config import Config, Configuration

from conftest import amplitude_flag, eppo_flag, load_json, needs, premium_flag, shared


def fixture_client() -> LocalEvaluationClient:
    data = load_json(shared("conformance", "amplitude", "dependencies_fixture.json"))
    client = LocalEvaluationClient("server-key", LocalEvaluationConfig(flags=data["flags"]))
    client.start()
    return client


def fixture_expectations():
    data = load_json(shared("conformance", "amplitude", "dependencies_fixture.json"))
    return [
        (User(**c["user"]), c.get("flag_keys"), {k: v.get("key") for k, v in c["expected"].items()})
        for c in data["cases"]
    ]


def keys(variants: Dict[str, Variant]) -> Dict[str, Any]:
    return {k: v.key for k, v in variants.items()}


def ufc(**flags: Dict[str, Any]) -> Configuration:
    import json

    return Configuration(
        flags_configuration=json.dumps(
            {
                "format": "SERVER",
                "createdAt": "2024-01-01T00:00:00.000Z",
                "environment": {"name": "Test"},
                "flags": flags,
            }
        ).encode()
    )


# ---------------------------------------------------------------------------------------
# fork
# ---------------------------------------------------------------------------------------


def _in_child(body) -> int:
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            code = 0 if body() else 3
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
            code = 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_local_client_created_before_fork_works_in_child():
    client = fixture_client()
    cases = fixture_expectations()

    def check() -> bool:
        results = [keys(client.evaluate_v2(u, f)) == exp for u, f, exp in cases]

        def grandchild() -> bool:  # nested fork
            return all(keys(client.evaluate_v2(u, f)) == exp for u, f, exp in cases)

        return all(results) and _in_child(grandchild) == 0

    assert _in_child(check) == 0
    assert all(keys(client.evaluate_v2(u, f)) == exp for u, f, exp in cases)  # parent unaffected
    client.stop()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_remote_client_and_pool_after_fork(flag_server):
    needs("remote")
    flag_server.remote_variants = lambda user: {"f": {"key": "on", "value": "on"}}
    client = Experiment.initialize_remote("k", RemoteEvaluationConfig(server_url=flag_server.url))
    assert client.fetch_v2(User(user_id="parent"))["f"].key == "on"

    def check() -> bool:
        sync = client.fetch_v2(User(user_id="child"))["f"].key == "on"
        done = threading.Event()
        got: List[Any] = []
        client.fetch_async_v2(User(user_id="child"), lambda user, variants: (got.append(variants), done.set()))
        done.wait(10)
        return sync and got and got[0]["f"].key == "on"

    assert _in_child(check) == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_eppo_client_after_fork():
    needs("eppo")
    client = eppo.init(Config(api_key="k", initial_configuration=ufc(f=eppo_flag("f", "blue"))))
    client.wait_for_initialization(timeout=5)
    assert _in_child(lambda: client.get_string_assignment("f", "s", {}, "x") == "blue") == 0


def test_only_after_in_child_fork_hook_is_registered():
    import inspect

    from allot import _fork

    source = inspect.getsource(_fork)
    assert "after_in_child=" in source and "before=" not in source and "after_in_parent" not in source


# ---------------------------------------------------------------------------------------
# threads and memory
# ---------------------------------------------------------------------------------------


def test_eight_threads_share_one_client():
    client = fixture_client()
    cases = fixture_expectations()
    errors: List[str] = []
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        for i in range(400):
            user, flag_keys, expected = cases[(i + n) % len(cases)]
            got = keys(client.evaluate_v2(user, flag_keys))
            if got != expected:
                errors.append(f"thread {n} iteration {i}: {got} != {expected}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    client.stop()


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_rss_is_flat_over_200k_evaluations():
    flags = [amplitude_flag(f"flag-{i}", payload={"n": i}) for i in range(3)] + [premium_flag("p")]
    client = LocalEvaluationClient("k", LocalEvaluationConfig(flags=flags))
    client.start()
    user = User(user_id="u", device_id="d", user_properties={"premium": True})

    def burst(n: int) -> None:
        for _ in range(n):
            client.evaluate_v2(user)

    burst(20_000)  # warm up allocator pools
    gc.collect()
    before = _rss_kb()
    burst(200_000)
    gc.collect()
    grown = _rss_kb() - before
    client.stop()
    # A leaked result string (~500 bytes each) would grow RSS by ~100 MB here.
    assert grown < 4096, f"RSS grew by {grown} KiB over 200,000 evaluations"


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_rss_is_flat_over_eppo_assignments():
    needs("eppo")
    client = eppo.init(Config(api_key="k", initial_configuration=ufc(f=eppo_flag("f", "blue"))))
    client.wait_for_initialization(timeout=5)
    for _ in range(10_000):
        client.get_string_assignment("f", "s", {"a": 1}, "x")
    gc.collect()
    before = _rss_kb()
    for _ in range(100_000):
        client.get_string_assignment("f", "s", {"a": 1}, "x")
    gc.collect()
    assert _rss_kb() - before < 4096


# ---------------------------------------------------------------------------------------
# API behaviour
# ---------------------------------------------------------------------------------------


def test_one_client_per_key_and_context_managers():
    config = LocalEvaluationConfig(flags=[amplitude_flag("f")])
    a = Experiment.initialize_local("key-a", config)
    assert Experiment.initialize_local("key-a") is a
    assert Experiment.initialize_local("key-b", config) is not a
    with Experiment.initialize_local("key-c", config) as client:
        client.start()
        assert client.evaluate_v2(User(user_id="u"))["f"] == Variant("on", key="on")
    # As the SDK: a stopped client stays the key's client and keeps evaluating.
    assert Experiment.initialize_local("key-c", config) is client
    assert client.evaluate_v2(User(user_id="u"))["f"].key == "on"


def test_variant_equality_ignores_metadata():
    assert Variant("on", {"a": 1}, "on", {"x": 1}) == Variant("on", {"a": 1}, "on", {"y": 2})
    assert Variant("on", key="on") != Variant("on", key="other")
    assert Variant("on", payload=1) != Variant("on", payload=2)
    assert Variant("on") != "on"


def test_evaluate_drops_default_variants():
    client = LocalEvaluationClient("k", LocalEvaluationConfig(flags=[premium_flag("p"), amplitude_flag("f")]))
    client.start()
    user = User(user_id="u")
    assert set(client.evaluate_v2(user)) == {"p", "f"}
    assert set(client.evaluate(user)) == {"f"}
    assert set(client.evaluate_v2(user, ["f"])) == {"f"}
    client.stop()


def test_debug_flag_enables_debug_logging(caplog):
    logger = logging.getLogger("Amplitude")
    level = logger.level
    try:
        with caplog.at_level(logging.NOTSET, logger="Amplitude"):
            client = LocalEvaluationClient("k", LocalEvaluationConfig(debug=True, flags=[amplitude_flag("f")]))
            assert logger.level == logging.DEBUG
            client.start()
            client.stop()
            LocalEvaluationConfig()  # as the SDK: a config without debug sets WARNING again
            assert logger.level == logging.WARNING
        assert any(r.name == "Amplitude" and r.levelno == logging.DEBUG for r in caplog.records)
    finally:
        logger.setLevel(level)


def test_fetch_async_error_goes_to_the_callback(flag_server):
    needs("remote")
    flag_server.behaviours["bad"] = "status_404"
    client = Experiment.initialize_remote("bad", RemoteEvaluationConfig(server_url=flag_server.url))
    got: List[Any] = []
    done = threading.Event()
    client.fetch_async_v2(User(user_id="u"), lambda *args: (got.append(args), done.set()))
    assert done.wait(10)
    # As the SDK: a first answer of 404 is no error, the variants are None.
    assert got == [(User(user_id="u", library=f"allot-python/{allot.__version__}"), None)]
    with pytest.warns(DeprecationWarning):
        assert client.fetch(User(user_id="u")) == {}  # the deprecated fetch swallows errors


class Exploding(eppo.AssignmentLogger):
    def __init__(self) -> None:
        self.calls = 0
        self.thread = None

    def log_assignment(self, assignment_event: Dict[str, Any]) -> None:
        self.calls += 1
        self.thread = threading.current_thread()
        raise RuntimeError("logger down")


def test_logger_exception_is_logged_not_raised(caplog):
    needs("eppo")
    logger = Exploding()
    client = eppo.init(
        Config(api_key="k", assignment_logger=logger, initial_configuration=ufc(f=eppo_flag("f", "blue")))
    )
    client.wait_for_initialization(timeout=5)
    with caplog.at_level(logging.WARNING, logger="eppo"):
        assert client.get_string_assignment("s", "f") == "blue"
    assert logger.calls == 1 and logger.thread is threading.current_thread()
    assert any("logger" in r.getMessage() for r in caplog.records)


def test_eppo_conventions_and_modes():
    needs("eppo")
    flags = ufc(f=eppo_flag("f", "blue"), n=eppo_flag("n", 7, "INTEGER"), b=eppo_flag("b", True, "BOOLEAN"))
    client = eppo.init(Config(api_key="k", initial_configuration=flags))
    assert eppo.get_instance() is client
    client.wait_for_initialization()
    # older convention: (subject_key, flag_key[, attributes]) → value or None
    assert client.get_string_assignment("subject", "f") == "blue"
    assert client.get_string_assignment("subject", "missing") is None
    assert client.get_boolean_assignment("subject", "b", {}) is True
    # current convention: (flag_key, subject_key, attributes, default)
    assert client.get_string_assignment("f", "subject", {}, "dflt") == "blue"
    assert client.get_string_assignment("missing", "subject", {}, "dflt") == "dflt"
    with pytest.raises(TypeError):  # as the SDK: attributes are a dict in this convention
        client.get_string_assignment("missing", "subject", None, default="dflt")
    assert client.get_integer_assignment("n", "subject", {}, 0) == 7
    assert client.get_string_assignment("n", "subject", {}, "dflt") == "dflt"  # type mismatch
    with pytest.raises(TypeError):
        client.get_string_assignment("only-one")
    with pytest.raises(TypeError):
        client.get_string_assignment("f", "s", {}, "d", "extra")
    # wrong argument types raise TypeError in both modes (the SDK's argument conversion)
    with pytest.raises(TypeError):
        client.get_integer_assignment("n", "subject", {}, "not-an-int")
    # graceful mode: evaluation errors give the default; off: they raise
    assert client.get_integer_assignment("f", "subject", {}, 3) == 3
    client.set_is_graceful_mode(False)
    with pytest.raises(RuntimeError):
        client.get_integer_assignment("f", "subject", {}, 3)
    client.shutdown()  # as the SDK: a shut-down client keeps serving
    assert client.get_string_assignment("f", "subject", {}, "dflt") == "blue"


def test_eppo_get_flag_keys():
    needs("eppo")
    client = eppo.init(Config(api_key="k", initial_configuration=ufc(a=eppo_flag("a", "x"), b=eppo_flag("b", "y"))))
    client.wait_for_initialization(timeout=5)
    try:
        keys_ = client.get_flag_keys()
    except allot.UnsupportedError as e:
        pytest.skip(str(e))
    assert keys_ == {"a", "b"}


def test_gil_is_released_during_native_calls():
    """Threads make progress while another thread is inside a native call."""
    client = fixture_client()
    stop = threading.Event()
    ticks = [0]

    def spin() -> None:
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    user = User(user_id="u")
    start = time.perf_counter()
    while time.perf_counter() - start < 0.2:
        client.evaluate_v2(user)
    stop.set()
    t.join()
    assert ticks[0] > 0
    client.stop()


def test_results_are_independent_objects():
    flag = amplitude_flag("f", payload={"nested": {"n": [1, 2]}})
    client = LocalEvaluationClient("k", LocalEvaluationConfig(flags=[flag, amplitude_flag("g", payload=[1, 2])]))
    client.start()
    user = User(user_id="u")
    first = client.evaluate_v2(user)
    first["f"].payload["nested"]["n"].append(3)
    first["f"].metadata["flagVersion"] = 99
    first["g"].payload.append(3)
    first["f"].value = "changed"
    second = client.evaluate_v2(user)
    assert second["f"].payload == {"nested": {"n": [1, 2]}}
    assert second["f"].metadata["flagVersion"] == 1
    assert second["g"].payload == [1, 2]
    assert second["f"].value == "on"
    user.user_properties = {"premium": True}  # a changed user is a new request
    assert client.evaluate_v2(user)["f"].value == "on"
    client.stop()


def test_assignment_config_sends_assignment_events(flag_server):
    config = LocalEvaluationConfig(
        flags=[amplitude_flag("tracked", "on", value="on")],
        assignment_config=AssignmentConfig(
            api_key="analytics-key", cache_capacity=10, server_url=flag_server.url + "/2/httpapi"
        ),
    )
    client = LocalEvaluationClient("deployment-key", config)
    client.start()
    client.evaluate_v2(User(user_id="u1", device_id="d1"))
    client.evaluate_v2(User(user_id="u1", device_id="d1"))  # the same assignment: de-duplicated
    counters = client.flush(5000)
    assert counters["assignment_events"]["sent"] == 1
    (request,) = flag_server.requests_to("/2/httpapi")
    body = json.loads(request["body"])
    assert body["api_key"] == "analytics-key"
    (event,) = body["events"]
    assert event["event_type"] == "[Experiment] Assignment"
    assert event["user_id"] == "u1"
    assert event["event_properties"]["tracked.variant"] == "on"
    client.stop()


def test_configs_send_only_what_the_caller_set(monkeypatch):
    """The library owns every default: a setting reaches it only when the caller gave it,
    even when the value equals the documented default; the signatures keep the vendors'
    defaults."""
    import inspect

    monkeypatch.delenv("ALLOT_AMPLITUDE_SERVER_URL", raising=False)
    monkeypatch.delenv("ALLOT_EPPO_BASE_URL", raising=False)
    assert LocalEvaluationConfig()._to_json("k") == {"provider": "amplitude", "mode": "local", "api_key": "k"}
    explicit = LocalEvaluationConfig(flag_config_polling_interval_millis=30000, server_url="http://127.0.0.1:9")
    assert explicit._to_json("k")["flag_config_polling_interval_millis"] == 30000
    assert explicit._to_json("k")["server_url"] == "http://127.0.0.1:9"
    later = LocalEvaluationConfig()
    later.stream_flag_conn_timeout = 1500
    assert later._to_json("k")["stream_flag_conn_timeout"] == 1500
    remote = RemoteEvaluationConfig()._to_json("k")
    assert remote == {"provider": "amplitude", "mode": "remote", "api_key": "k"}
    assert RemoteEvaluationConfig(fetch_retries=0)._to_json("k")["fetch_retries"] == 0
    assert Config(api_key="k")._to_json() == {"provider": "eppo", "api_key": "k"}
    default_url = inspect.signature(Config).parameters["base_url"].default
    assert Config(api_key="k", base_url=default_url)._to_json()["base_url"] == default_url
    assert inspect.signature(LocalEvaluationConfig).parameters["flag_config_polling_interval_millis"].default == 30000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_analytics_callback_in_the_parent_and_a_forked_child(flag_server, caplog):
    """The config's callback is called once per event, after ``flush()`` returns, in the
    parent and in a forked child (its own reports); an exception inside it is logged on
    the config's logger, as the Analytics SDK does."""
    flag_server.amplitude_flags = [amplitude_flag("f")]
    calls: List[Any] = []

    def callback(event: Any, code: int, message: str) -> None:
        calls.append((os.getpid(), event.user_id, event["event_type"], code, message))
        if event.user_id == "boom":
            raise ValueError("boom")

    assignment = AssignmentConfig(
        api_key="a", server_url=flag_server.url + "/2/httpapi", flush_queue_size=1, callback=callback
    )
    client = LocalEvaluationClient("k", LocalEvaluationConfig(server_url=flag_server.url, assignment_config=assignment))
    client.start()
    sent = (os.getpid(), "[Experiment] Assignment", 200, "Event sent successfully.")
    with caplog.at_level(logging.ERROR, logger="amplitude"):
        client.evaluate_v2(User(user_id="parent"))
        client.evaluate_v2(User(user_id="boom"))
        client.flush()
    assert sorted(calls) == sorted([(sent[0], user, *sent[1:]) for user in ("boom", "parent")])
    assert [r.name for r in caplog.records if "Error callback for event" in r.getMessage()] == ["amplitude"]

    def child() -> bool:
        calls.clear()
        client.evaluate_v2(User(user_id="child"))
        client.flush()
        return calls == [(os.getpid(), "child", *sent[1:])]

    assert _in_child(child) == 0
    client.stop()
