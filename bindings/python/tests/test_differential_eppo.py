"""eppo-server-sdk 4.4.1 as the oracle of allot.eppo (see differential.py)."""

from __future__ import annotations

import json
import threading
from typing import Any, Dict, List, Tuple

import pytest
from differential import Recorder, compare, run, sdk_modules, typed, wait_for

from conftest import FlagServer, eppo_flag, load_json, shared

pytest.importorskip("eppo_client")

VENDOR = sdk_modules(vendor=True)["eppo"]
ALLOT = sdk_modules(vendor=False)["eppo"]

FLAGS: Dict[str, Any] = {
    "s": eppo_flag("s", "blue"),
    "i": eppo_flag("i", 7, "INTEGER"),
    "n": eppo_flag("n", 43, "NUMERIC"),
    "x": eppo_flag("x", 43.5, "NUMERIC"),
    "b": eppo_flag("b", True, "BOOLEAN"),
    "j": eppo_flag("j", '{"a": [1, 2]}', "JSON"),
    "quiet": eppo_flag("quiet", "red", do_log=False),
}
#: (method suffix, flag, default) for every typed call; each flag is also asked with the
#: wrong type and a missing flag.
CALLS = [
    ("string", "STRING", "d"),
    ("integer", "INTEGER", 1),
    ("numeric", "NUMERIC", 1.5),
    ("boolean", "BOOLEAN", False),
]
CALLS.append(("json", "JSON", {"d": 1}))


def serve(server: FlagServer) -> None:
    server.ufc["flags"] = dict(FLAGS)


class Logger:
    """An assignment logger of either SDK that records events."""

    def __init__(self, sdk: Any, rec: Recorder) -> None:
        class Recording(sdk.AssignmentLogger):
            def log_assignment(self, event: Dict[str, Any]) -> None:
                details = event.get("evaluationDetails")
                rec.event(dict({k: v for k, v in event.items() if k != "evaluationDetails"}, details=bool(details)))

        self.logger = Recording()


def client_for(sdk: Any, server: FlagServer, rec: Recorder, key: str = "sdk-key", **kw: Any) -> Any:
    config = sdk.ClientConfig(
        api_key=key, base_url=server.url, assignment_logger=Logger(sdk, rec).logger, poll_jitter_seconds=0, **kw
    )
    client = sdk.init(config)
    client.wait_for_initialization()
    return client


def both(scenario, setup=serve, **compare_kw: Any) -> None:
    compare(run(scenario, VENDOR, setup), run(scenario, ALLOT, setup), **compare_kw)


def test_every_typed_assignment_and_its_details() -> None:
    def scenario(sdk, server, rec):
        client = client_for(sdk, server, rec)
        attributes = {"country": "US", "age": 30, "ratio": 0.5, "vip": True, "none": None}
        for suffix, _, default in CALLS:
            get = getattr(client, f"get_{suffix}_assignment")
            details = getattr(client, f"get_{suffix}_assignment_details")
            for flag in list(FLAGS) + ["missing"]:
                rec.step(f"{suffix} {flag}", lambda g=get, f=flag, d=default: g(f, "subject", attributes, d))
                rec.step(f"{suffix} {flag} details", lambda g=details, f=flag, d=default: g(f, "subject", {}, d))
        rec.step("flag keys", client.get_flag_keys)
        rec.step("initialized", client.is_initialized)
        client.shutdown()

    both(scenario)


def test_graceful_mode_off_and_argument_errors() -> None:
    def scenario(sdk, server, rec):
        client = client_for(sdk, server, rec, is_graceful_mode=False)
        rec.step("type mismatch", lambda: client.get_numeric_assignment("s", "subject", {}, 1.0))
        rec.step("details mismatch", lambda: client.get_numeric_assignment_details("s", "subject", {}, 1.0))
        rec.step("missing flag", lambda: client.get_string_assignment("missing", "subject", {}, "d"))
        client.set_is_graceful_mode(True)
        for name, args in {
            "None attributes": ("s", "subject", None, "d"),
            "list attribute": ("s", "subject", {"a": [1]}, "d"),
            "int subject": ("s", 5, {}, "d"),
            "int flag key": (5, "subject", {}, "d"),
            "int default": ("s", "subject", {}, 5),
        }.items():
            rec.step(name, lambda a=args: client.get_string_assignment(*a))
        rec.step("int numeric default", lambda: client.get_numeric_assignment("n", "subject", {}, 1))
        rec.step("bool integer default", lambda: client.get_integer_assignment("missing", "subject", {}, True))
        rec.step("int boolean default", lambda: client.get_boolean_assignment("b", "subject", {}, 1))
        rec.step(
            "keywords",
            lambda: client.get_string_assignment(flag_key="s", subject_key="k", subject_attributes={}, default="d"),
        )
        client.shutdown()

    both(scenario)


def test_lifecycle_shutdown_and_second_init() -> None:
    def scenario(sdk, server, rec):
        first = client_for(sdk, server, rec)
        rec.step("instance", lambda: sdk.get_instance() is first)
        first.shutdown()
        rec.step("after shutdown", lambda: first.get_string_assignment("s", "subject", {}, "d"))
        second = client_for(sdk, server, rec, key="other-key")
        rec.step("old client after init", lambda: first.get_string_assignment("s", "subject", {}, "d"))
        rec.step("new instance", lambda: sdk.get_instance() is second)
        second.shutdown()

    both(scenario, order=False)


def test_not_initialized_gives_defaults_with_a_warning() -> None:
    def scenario(sdk, server, rec):
        config = sdk.ClientConfig(api_key="k", base_url="http://127.0.0.1:9", assignment_logger=sdk.AssignmentLogger())
        client = sdk.init(config)
        rec.step("initialized", client.is_initialized)
        rec.step("string", lambda: client.get_string_assignment("s", "subject", {}, "d"))
        rec.step("flag keys", client.get_flag_keys)
        client.shutdown()

    both(scenario, requests=False)


def test_initial_configuration_and_configuration_objects() -> None:
    text = json.dumps(
        {"format": "SERVER", "createdAt": "2024-01-01T00:00:00Z", "environment": {"name": "T"}, "flags": FLAGS}
    )

    def scenario(sdk, server, rec):
        configuration = sdk.Configuration(flags_configuration=text.encode())
        rec.step("keys", configuration.get_flag_keys)
        rec.step("bandit keys", configuration.get_bandit_keys)
        config = sdk.ClientConfig(
            api_key="k",
            base_url="http://127.0.0.1:9",
            assignment_logger=sdk.AssignmentLogger(),
            initial_configuration=configuration,
        )
        client = sdk.init(config)
        rec.step("initialized", client.is_initialized)
        rec.step("numeric", lambda: client.get_numeric_assignment("n", "subject", {}, 0.0))
        rec.step("configuration keys", lambda: client.get_configuration().get_flag_keys())
        rec.step("bad configuration", lambda: sdk.Configuration(flags_configuration=b"{}"))
        rec.step("result", lambda: sdk.EvaluationResult("v").to_string())
        rec.step("no instance config", lambda: sdk.ClientConfig(api_key="", assignment_logger=sdk.AssignmentLogger()))
        client.shutdown()

    both(scenario, requests=False)


def test_get_configuration_is_the_configuration_served() -> None:
    """``get_configuration()`` hands back what the client serves: nothing before the first
    fetch, then the fetched configuration, then the next one polling brought."""

    def scenario(sdk, server, rec):
        server.behaviours["late"] = "slow"
        server.slow_seconds = 1.0
        late = sdk.init(sdk.ClientConfig(api_key="late", base_url=server.url, assignment_logger=sdk.AssignmentLogger()))
        rec.step("before the first fetch", late.get_configuration)
        client = client_for(sdk, server, rec, poll_interval_seconds=1)
        rec.step("fetched keys", lambda: sorted(client.get_configuration().get_flag_keys()))
        rec.step(
            "fetched document",
            lambda: json.loads(client.get_configuration().get_flags_configuration())["flags"] == server.ufc["flags"],
        )
        rec.step("bandit keys", lambda: client.get_configuration().get_bandit_keys())
        server.ufc["flags"] = dict(FLAGS, extra=eppo_flag("extra", "x"))
        rec.step("next fetch", lambda: wait_for(lambda: "extra" in client.get_configuration().get_flag_keys(), 5))
        client.shutdown()

    both(scenario, requests=False)


def test_wait_for_initialization_rides_out_a_transient_failure() -> None:
    def scenario(sdk, server, rec):
        server.behaviours["sdk-key"] = "status_500"
        threading.Timer(0.3, lambda: server.behaviours.pop("sdk-key", None)).start()
        client = client_for(sdk, server, rec, poll_interval_seconds=1)
        rec.step("initialized", client.is_initialized)
        rec.step("string", lambda: client.get_string_assignment("s", "subject", {}, "d"))
        client.shutdown()

    both(scenario, requests=False)


def test_older_convention_matches_the_sdk_with_none_for_the_default() -> None:
    """allot also accepts the seeds' ``get_<type>_assignment(subject_key, flag_key,
    attributes=None)`` (docs/python.md, row "allot additions"): the vendor's value
    for the same assignment, or None where the vendor returns the default."""
    marker = "__default__"
    pairs = [("string", "s"), ("string", "missing"), ("boolean", "b"), ("numeric", "n"), ("numeric", "s")]

    def vendor_side(sdk, server, rec):
        client = client_for(sdk, server, rec)
        for suffix, flag in pairs:
            default = {"string": marker, "boolean": False, "numeric": -1.0}[suffix]
            value = getattr(client, f"get_{suffix}_assignment")(flag, "subject", {}, default)
            rec.observed.steps.append((flag, "returns", typed(None if value in (marker, -1.0) else value)))
        client.shutdown()

    def allot_side(sdk, server, rec):
        client = client_for(sdk, server, rec)
        for suffix, flag in pairs:
            rec.step(flag, lambda s=suffix, f=flag: getattr(client, f"get_{s}_assignment")("subject", f))
        client.shutdown()

    compare(run(vendor_side, VENDOR, serve), run(allot_side, ALLOT, serve))


def _cases() -> List[Tuple[str, str, Any, str, Dict[str, Any]]]:
    """The Eppo test data's cases: (flag, method, default, subject key, attributes)."""
    methods = {"STRING": "string", "INTEGER": "integer", "NUMERIC": "numeric", "BOOLEAN": "boolean", "JSON": "json"}
    out = []
    for path in sorted(shared("conformance", "eppo", "tests").glob("*.json")):
        case = load_json(path)
        method = methods[case["variationType"]]
        default = float(case["defaultValue"]) if method == "numeric" else case["defaultValue"]
        for subject in case["subjects"]:
            out.append(
                (case["flag"], method, default, subject["subjectKey"], _attributes(subject["subjectAttributes"]))
            )
    return out


def _conformance(flags_file: str, details: bool, only: str = ""):
    text = shared("conformance", "eppo", flags_file).read_bytes()
    cases = [c for c in _cases() if not only or c[0] == only]

    def scenario(sdk, server, rec):
        config = sdk.ClientConfig(
            api_key="k",
            base_url="http://127.0.0.1:9",
            assignment_logger=Logger(sdk, rec).logger,
            initial_configuration=sdk.Configuration(flags_configuration=text),
        )
        client = sdk.init(config)
        for flag, method, default, key, attributes in cases:
            args = (flag, key, attributes, default)
            rec.step(f"{flag} {key}", lambda m=method, a=args: getattr(client, f"get_{m}_assignment")(*a))
            if details and flag != INVALID_VALUE_FLAG:
                rec.step("details", lambda m=method, a=args: getattr(client, f"get_{m}_assignment_details")(*a))
        client.shutdown()

    return scenario


#: A flag whose INTEGER variation holds 3.1415926 (see the deviation test below).
INVALID_VALUE_FLAG = "invalid-value-flag"


def test_conformance_subjects_assignments_and_details() -> None:
    """Every subject of the shared Eppo test data, typed call and details call: values,
    types, details (rules, conditions, splits, shards) and events."""
    both(_conformance("flags-v1.json", details=True), requests=False)


def test_deviation_obfuscated_configurations_are_served() -> None:
    """docs/python.md, row "the project's references": the SDK serves the defaults for
    an obfuscated configuration; allot serves what the plain one assigns."""
    plain = run(_conformance("flags-v1.json", details=False), VENDOR, serve)
    vendor = run(_conformance("flags-v1-obfuscated.json", details=False), VENDOR, serve)
    ours = run(_conformance("flags-v1-obfuscated.json", details=False), ALLOT, serve)
    assert ours.steps == plain.steps
    assert vendor.steps != plain.steps
    defaults = [typed(c[2]) for c in _cases()]
    assert sum(s[2] == d for s, d in zip(vendor.steps, defaults)) > sum(
        s[2] == d for s, d in zip(plain.steps, defaults)
    )


def test_deviation_invalid_variation_value_is_an_assignment_error() -> None:
    """docs/python.md, row "the project's references": Eppo's shared test data
    reports an INTEGER variation holding 3.1415926 as ASSIGNMENT_ERROR with its value;
    eppo-server-sdk 4.4.1 as UNEXPECTED_CONFIGURATION_ERROR without it. Both return
    the default."""

    def scenario(sdk, server, rec):
        _conformance("flags-v1.json", details=False, only=INVALID_VALUE_FLAG)(sdk, server, rec)
        client = sdk.init(
            sdk.ClientConfig(
                api_key="k",
                base_url="http://127.0.0.1:9",
                assignment_logger=sdk.AssignmentLogger(),
                initial_configuration=sdk.Configuration(
                    flags_configuration=shared("conformance", "eppo", "flags-v1.json").read_bytes()
                ),
            )
        )
        result = client.get_integer_assignment_details(INVALID_VALUE_FLAG, "alice", {"country": "US"}, 42)
        rec.step("code", lambda: result.evaluation_details["flagEvaluationCode"])
        client.shutdown()

    vendor, ours = run(scenario, VENDOR, serve), run(scenario, ALLOT, serve)
    assert ours.steps[:-1] == vendor.steps[:-1]
    assert vendor.steps[-1] == ("code", "returns", ["str", "UNEXPECTED_CONFIGURATION_ERROR"])
    assert ours.steps[-1] == ("code", "returns", ["str", "ASSIGNMENT_ERROR"])


def _attributes(attributes: Dict[str, Any]) -> Dict[str, Any]:
    """The SDK takes scalar attributes only (the test cases have none other)."""
    return {k: v for k, v in attributes.items() if v is None or isinstance(v, (str, int, float, bool))}
