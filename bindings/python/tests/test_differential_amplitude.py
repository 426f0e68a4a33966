"""amplitude-experiment 1.13.0 as the oracle of allot.amplitude (see differential.py)."""

from __future__ import annotations

import importlib
import json
import threading
import warnings
from typing import Any, Dict, List

import pytest
from differential import compare, run, sdk_modules, strip_identity, wait_for

from conftest import FlagServer, amplitude_flag, load_json, premium_flag, shared

pytest.importorskip("amplitude_experiment")

VENDOR = sdk_modules(vendor=True)["amplitude"]
ALLOT = sdk_modules(vendor=False)["amplitude"]

FAST = {"fetch_retry_backoff_min_millis": 10, "fetch_retry_backoff_max_millis": 20}


def both(scenario, setup=lambda server: None, **compare_kw: Any) -> None:
    compare(run(scenario, VENDOR, setup), run(scenario, ALLOT, setup), **compare_kw)


def remote_variants(server: FlagServer) -> None:
    def variants(user: Dict[str, Any]) -> Dict[str, Any]:
        premium = (user.get("user_properties") or {}).get("premium") is True
        return {
            "flag": {"key": "on" if premium else "off", "value": "on" if premium else "off", "payload": {"n": 1}},
            "gone": {"key": "off", "metadata": {"default": True, "deployed": False}},
            "default": {"key": "off", "metadata": {"default": True}},
        }

    server.remote_variants = variants


# -- remote evaluation ------------------------------------------------------------------

BEHAVIOURS = ["ok", "status_500", "status_404", "unauthorized", "garbage", "slow", "closed_port"]


@pytest.mark.parametrize("retries", [0, 2])
@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_fetch_v2_outcomes(behaviour: str, retries: int) -> None:
    def scenario(sdk, server, rec):
        url = "http://127.0.0.1:9" if behaviour == "closed_port" else server.url
        server.behaviours["key"] = behaviour
        server.slow_seconds = 0.5
        config = sdk.RemoteEvaluationConfig(
            server_url=url, fetch_retries=retries, fetch_timeout_millis=200, fetch_retry_timeout_millis=200, **FAST
        )
        client = sdk.RemoteEvaluationClient("key", config)
        user = sdk.User(user_id="u", device_id="d", user_properties={"premium": True})
        rec.step("fetch_v2", lambda: client.fetch_v2(user))
        rec.step("user after", lambda: user)
        client.close()

    # A slow server answers late: the attempts may interleave with the next request.
    both(scenario, remote_variants, order=behaviour != "slow")


def test_fetch_options_on_the_wire() -> None:
    def scenario(sdk, server, rec):
        client = sdk.RemoteEvaluationClient("key", sdk.RemoteEvaluationConfig(server_url=server.url))
        options_cls = sdk.remote.fetch_options.FetchOptions if hasattr(sdk, "remote") else None
        if options_cls is None:
            import importlib

            options_cls = importlib.import_module(sdk.__name__ + ".remote.fetch_options").FetchOptions
        user = sdk.User(user_id="u")
        for options in (
            options_cls(tracksAssignment=False, tracksExposure=True, flagKeys=["flag", "other"]),
            options_cls(tracksAssignment=True),
            options_cls(flagKeys=[]),
            None,
        ):
            rec.step("fetch_v2", lambda options=options: client.fetch_v2(user, options))

    both(scenario, remote_variants)


def test_deprecated_fetch_and_async_fetch() -> None:
    def scenario(sdk, server, rec):
        client = sdk.RemoteEvaluationClient("key", sdk.RemoteEvaluationConfig(server_url=server.url))
        user = sdk.User(user_id="u", user_properties={"premium": True})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("ignore")
            rec.step("fetch", lambda: client.fetch(user))
        rec.step("warnings", lambda: [(w.category.__name__, w.filename == __file__) for w in caught])
        done = threading.Event()
        got: List[Any] = []

        def callback(*args: Any) -> None:
            got.append(args)
            done.set()

        rec.step("fetch_async_v2", lambda: client.fetch_async_v2(user, callback))
        done.wait(5)
        rec.step("callback", lambda: got)
        done.clear()
        got.clear()
        server.behaviours["key"] = "status_500"
        with warnings.catch_warnings(record=True):
            rec.step("fetch_async", lambda: client.fetch_async(user, callback))
        done.wait(5)
        rec.step("callback after 500", lambda: [(a[0], a[1]) for a in got])

    both(scenario, remote_variants, order=False)


def test_fetch_after_close() -> None:
    def scenario(sdk, server, rec):
        client = sdk.RemoteEvaluationClient("key", sdk.RemoteEvaluationConfig(server_url=server.url))
        user = sdk.User(user_id="u")
        rec.step("fetch_v2", lambda: client.fetch_v2(user))
        client.close()
        rec.step("fetch_v2 after close", lambda: client.fetch_v2(user))

    both(scenario, remote_variants, requests=False)


# -- local evaluation -------------------------------------------------------------------


def local_flags(server: FlagServer) -> None:
    server.amplitude_flags = [premium_flag("premium"), amplitude_flag("all", "treatment", payload={"color": "blue"})]


def test_local_lifecycle() -> None:
    def scenario(sdk, server, rec):
        client = sdk.LocalEvaluationClient("key", sdk.LocalEvaluationConfig(server_url=server.url))
        user = sdk.User(user_id="u", user_properties={"premium": True})
        rec.step("before start", lambda: client.evaluate_v2(user))
        rec.step("start", client.start)
        rec.step("all flags", lambda: client.evaluate_v2(user))
        rec.step("a list", lambda: client.evaluate_v2(sdk.User(user_id="v"), ["premium"]))
        rec.step("a set", lambda: client.evaluate_v2(user, {"all"}))
        rec.step("unknown key", lambda: client.evaluate_v2(user, ["nope"]))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("ignore")
            rec.step("evaluate", lambda: client.evaluate(sdk.User(user_id="v")))
        rec.step("warned", lambda: [w.category.__name__ for w in caught])
        rec.step("stop", client.stop)
        rec.step("after stop", lambda: client.evaluate_v2(user))

    both(scenario, local_flags, requests=False)


@pytest.mark.parametrize("behaviour", ["status_500", "unauthorized", "garbage"])
def test_local_start_failures(behaviour: str) -> None:
    def scenario(sdk, server, rec):
        server.behaviours["key"] = behaviour
        client = sdk.LocalEvaluationClient("key", sdk.LocalEvaluationConfig(server_url=server.url))
        rec.step("start", client.start)
        rec.step("evaluate_v2", lambda: client.evaluate_v2(sdk.User(user_id="u")))
        client.stop()

    both(scenario, local_flags, requests=False)


def test_dependency_fixture_cases() -> None:
    data = load_json(shared("conformance", "amplitude", "dependencies_fixture.json"))

    def setup(server: FlagServer) -> None:
        server.amplitude_flags = data["flags"]

    def scenario(sdk, server, rec):
        client = sdk.LocalEvaluationClient("key", sdk.LocalEvaluationConfig(server_url=server.url))
        client.start()
        for case in data["cases"]:
            keys = case.get("flag_keys")
            rec.step(case.get("name", ""), lambda c=case, k=keys: client.evaluate_v2(sdk.User(**c["user"]), k))
        client.stop()

    both(scenario, setup, requests=False)


def test_configuration_objects() -> None:
    def scenario(sdk, server, rec):
        import importlib

        for name in ("local.config", "remote.config"):
            module = importlib.import_module(f"{sdk.__name__}.{name}")
            rec.step(name, lambda m=module: (m.DEFAULT_SERVER_URL, m.EU_SERVER_URL))
        eu = sdk.LocalEvaluationConfig(server_zone=sdk.ServerZone.EU)
        rec.step("eu local", lambda: (eu.server_url, eu.stream_server_url, eu.logger.name, eu.logger.level))
        remote = sdk.RemoteEvaluationConfig(server_zone=sdk.ServerZone.EU, debug=True)
        rec.step("eu remote", lambda: (remote.server_url, remote.logger.name, remote.logger.level))
        assignment = sdk.AssignmentConfig(api_key="a", flush_queue_size=5, min_id_length=3)
        rec.step("assignment", lambda: (assignment.api_key, assignment.cache_capacity, assignment.is_valid()))
        rec.step("unknown option", lambda: sdk.AssignmentConfig(api_key="a", nope=1))
        rec.step("user json", lambda: sdk.User(user_id="u").to_json())
        rec.step("variant str", lambda: str(sdk.Variant("on", key="on", metadata={"a": 1})))
        rec.step("empty key", lambda: sdk.RemoteEvaluationClient(""))

    both(scenario)


def test_deviation_empty_flag_keys_mean_all_flags() -> None:
    """docs/python.md, row "the project's references": the SDK evaluates no flag for an empty
    collection; allot evaluates all, as the seed documentation says."""

    def scenario(sdk, server, rec):
        client = sdk.LocalEvaluationClient("key", sdk.LocalEvaluationConfig(server_url=server.url))
        client.start()
        rec.step("an empty set", lambda: sorted(client.evaluate_v2(sdk.User(user_id="u"), set())))

    vendor, ours = run(scenario, VENDOR, local_flags), run(scenario, ALLOT, local_flags)
    assert vendor.steps == [("an empty set", "returns", {"list": []})]
    assert ours.steps == [("an empty set", "returns", {"list": [["str", "all"], ["str", "premium"]]})]


@pytest.mark.parametrize("send_evaluated_props", [False, True])
def test_assignment_and_exposure_events_on_the_wire(send_evaluated_props: bool) -> None:
    def scenario(sdk, server, rec):
        endpoint = server.url + "/2/httpapi"
        config = sdk.LocalEvaluationConfig(
            server_url=server.url,
            assignment_config=sdk.AssignmentConfig(
                api_key="analytics-a", server_url=endpoint, send_evaluated_props=send_evaluated_props
            ),
            exposure_config=importlib.import_module(sdk.__name__ + ".exposure").ExposureConfig(
                api_key="analytics-e", server_url=endpoint
            ),
        )
        client = sdk.LocalEvaluationClient("key", config)
        client.start()
        options = importlib.import_module(sdk.__name__ + ".local.evaluate_options").EvaluateOptions
        user = sdk.User(user_id="u", device_id="d", country="NL", platform="web", user_properties={"premium": True})
        rec.step("assigned", lambda: sorted(client.evaluate_v2(user)))
        rec.step("again (de-duplicated)", lambda: sorted(client.evaluate_v2(user)))
        rec.step("exposed", lambda: sorted(client.evaluate_v2(user, ["all"], options(tracks_exposure=True))))
        rec.step("stop", lambda: client.stop(5.0))

    def uploads(observed):
        return sorted(
            (json.dumps(r["body"], sort_keys=True) for r in observed.requests if r["path"] == "/2/httpapi"),
        )

    vendor, ours = run(scenario, VENDOR, local_flags), run(scenario, ALLOT, local_flags)
    assert ours.steps == vendor.steps
    assert ours.logs == vendor.logs
    assert uploads(ours) == uploads(vendor)


ANALYTICS_ANSWERS = {
    "accepted": (200, b'{"code":200}'),
    "server error": (500, b'{"code":500,"error":"down"}'),
    "throttled": (429, b'{"code":429,"error":"Too many requests"}'),
    "rejected": (400, b'{"code":400,"error":"Request missing required field","missing_field":"api_key"}'),
    "too large": (413, b'{"code":413,"error":"Payload too large"}'),
    "no server": None,
}


def callback_scenario(answer: Any) -> Any:
    """Assignment and exposure events (three in all) with a ``callback`` on both configs,
    delivered to an analytics endpoint answering ``answer`` ((status, body), or None: no
    server); the calls are the last step."""

    def scenario(sdk, server, rec):
        calls: List[Any] = []
        lock = threading.Lock()

        def callback(event: Any, code: int, message: str) -> None:
            with lock:
                calls.append([strip_identity(event.get_event_body()), code, message])

        if answer is None:
            endpoint = "http://127.0.0.1:9/2/httpapi"
        else:
            server.analytics_answer = answer
            endpoint = server.url + "/2/httpapi"
        options = {
            "server_url": endpoint,
            "flush_queue_size": 1,
            "flush_interval_millis": 100,
            "flush_max_retries": 2,
            "callback": callback,
        }
        exposure = importlib.import_module(sdk.__name__ + ".exposure").ExposureConfig
        config = sdk.LocalEvaluationConfig(
            server_url=server.url,
            assignment_config=sdk.AssignmentConfig(api_key="analytics-a", **options),
            exposure_config=exposure(api_key="analytics-e", **options),
        )
        client = sdk.LocalEvaluationClient("key", config)
        client.start()
        evaluate_options = importlib.import_module(sdk.__name__ + ".local.evaluate_options").EvaluateOptions
        user = sdk.User(user_id="u", device_id="d", user_properties={"premium": True})
        rec.step("exposed", lambda: sorted(client.evaluate_v2(user, None, evaluate_options(tracks_exposure=True))))
        # One assignment event and an exposure event per flag served (both are "on").
        rec.step("called back", lambda: wait_for(lambda: len(calls) >= 3, 10))
        threading.Event().wait(0.3)  # no call beyond one per event
        client.stop(5.0)
        rec.step("calls", lambda: sorted(calls, key=lambda c: json.dumps(c, sort_keys=True)))

    return scenario


@pytest.mark.parametrize("answer", list(ANALYTICS_ANSWERS))
def test_analytics_callback_gets_each_events_outcome(answer: str) -> None:
    """``callback(event, code, message)`` of AssignmentConfig and ExposureConfig: one call
    per event with the SDK's code and message, whether the server accepted the events,
    kept failing until ``flush_max_retries`` sends, rejected them (a batch of one event)
    or was not there at all."""
    scenario = callback_scenario(ANALYTICS_ANSWERS[answer])
    vendor, ours = run(scenario, VENDOR, local_flags), run(scenario, ALLOT, local_flags)
    assert ours.steps == vendor.steps
    calls = vendor.steps[-1][2]["list"]
    assert len(calls) == 3


def test_analytics_options_on_the_wire() -> None:
    """The Analytics SDK's options of event delivery: the batch endpoint, min_id_length,
    plan and ingestion metadata."""
    analytics = pytest.importorskip("amplitude")

    def scenario(sdk, server, rec):
        config = sdk.LocalEvaluationConfig(
            server_url=server.url,
            assignment_config=sdk.AssignmentConfig(
                api_key="analytics-a",
                server_url=server.url + "/batch",
                min_id_length=1,
                flush_queue_size=1,
                plan=analytics.Plan(branch="main", source="web", version="3"),
                ingestion_metadata=analytics.IngestionMetadata(source_name="svc", source_version="2"),
            ),
        )
        client = sdk.LocalEvaluationClient("key", config)
        client.start()
        rec.step("assigned", lambda: sorted(client.evaluate_v2(sdk.User(user_id="u", device_id="d"))))
        rec.step("stop", lambda: client.stop(5.0))

    vendor, ours = run(scenario, VENDOR, local_flags), run(scenario, ALLOT, local_flags)
    assert ours.steps == vendor.steps
    uploads = [[(r["path"], r["body"]) for r in o.requests if r["path"] != "/sdk/v2/flags"] for o in (vendor, ours)]
    assert uploads[1] == uploads[0]
    assert uploads[0][0][0] == "/batch"


def test_stop_ends_polling_and_keeps_serving() -> None:
    def scenario(sdk, server, rec):
        config = sdk.LocalEvaluationConfig(server_url=server.url, flag_config_polling_interval_millis=50)
        client = sdk.LocalEvaluationClient("key", config)
        client.start()
        rec.step("polled again", lambda: wait_for(lambda: len(server.requests_to("/sdk/v2/flags")) >= 2))
        client.stop()
        threading.Event().wait(0.1)  # a poll already under way may finish
        stopped_at = len(server.requests_to("/sdk/v2/flags"))
        server.amplitude_flags = []
        threading.Event().wait(0.3)  # six polling intervals
        rec.step("polls after stop", lambda: len(server.requests_to("/sdk/v2/flags")) - stopped_at)
        rec.step("still serving", lambda: sorted(client.evaluate_v2(sdk.User(user_id="u"))))

    both(scenario, local_flags, requests=False)
