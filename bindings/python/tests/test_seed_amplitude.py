"""Every Python sample of Amplitude's Python SDK documentation, with only the import line
changed (``amplitude_experiment`` → ``allot.amplitude``), against a real flag server on
127.0.0.1 (the default server URL points at it through ALLOT_AMPLITUDE_SERVER_URL)."""

from __future__ import annotations

import ast
import inspect
import re
import time
from typing import Any, Dict, List

import pytest

import allot.amplitude as amplitude
from allot.amplitude import (
    AssignmentConfig,
    Experiment,
    LocalEvaluationClient,
    LocalEvaluationConfig,
    RemoteEvaluationClient,
    RemoteEvaluationConfig,
)

from conftest import DEPLOYMENT_KEY, amplitude_flag, needs, premium_flag
from seeds import AMPLITUDE, document, mark_branches, prepare, python_blocks, signature_blocks

IMPORT = "from amplitude_experiment import"
NEW_IMPORT = "from allot.amplitude import"


def blocks() -> List[str]:
    return python_blocks(AMPLITUDE)


def find(*needles: str) -> str:
    found = [b for b in blocks() if all(n in b for n in needles)]
    assert len(found) == 1, f"expected one sample containing {needles}, found {len(found)}"
    return found[0]


def run(code: str, namespace: Dict[str, Any]) -> Dict[str, Any]:
    exec(compile(code, "<seed sample>", "exec"), namespace)
    return namespace


def remote_server(flag_server):
    def variants(user: Dict[str, Any]) -> Dict[str, Any]:
        premium = (user.get("user_properties") or {}).get("premium") is True
        return {"YOUR-FLAG-KEY": {"key": "on" if premium else "off", "value": "on" if premium else "off"}}

    flag_server.remote_variants = variants
    return flag_server


def test_every_sample_is_covered():
    # 15 python blocks: 8 runnable samples below and 6 signatures; one is the config hint.
    assert len(blocks()) == 15
    assert len(signature_blocks(AMPLITUDE)) == 6


def test_remote_quick_start(flag_server):
    needs("remote")
    remote_server(flag_server)
    sample = find("Experiment.initialize_remote('<DEPLOYMENT_KEY>')", "fetch_v2")
    ran: List[str] = []
    code = prepare(sample, [(IMPORT, NEW_IMPORT)], mark_branches(sample, ["# Flag is on", "# Flag is off"]))
    ns = run(code, {"branch": ran.append})
    assert ran == ["# Flag is on"]
    assert isinstance(ns["experiment"], RemoteEvaluationClient)
    assert ns["variant"] == amplitude.Variant("on", key="on")
    [request] = flag_server.requests_to("/sdk/v2/vardata")
    assert request["method"] == "POST"
    assert request["headers"]["authorization"] == f"Api-Key {DEPLOYMENT_KEY}"
    body = request["body"].decode()
    assert '"user@company.com"' in body and '"abcdefg"' in body and '"premium":true' in body.replace(" ", "")


def test_remote_with_config_and_fetch_samples(flag_server):
    needs("remote")
    remote_server(flag_server)
    # The document's sample uses Config without importing it; the import line is added.
    ns: Dict[str, Any] = {}
    run(prepare(find("Config()"), [("experiment =", f"{NEW_IMPORT} Config, Experiment, User\nexperiment =")]), ns)
    assert isinstance(ns["experiment"], RemoteEvaluationClient)
    [fetch] = [b for b in blocks() if b.startswith("user = User(") and "fetch_v2(user)" in b]
    run(fetch, ns)
    [access] = [b for b in blocks() if b.startswith("variant = variants['YOUR-FLAG-KEY']")]
    ran: List[str] = []
    ns["branch"] = ran.append
    run(prepare(access, repairs=mark_branches(access, ["# Flag is on", "# Flag is off"])), ns)
    assert ran == ["# Flag is on"]


def test_fetch_async_sample(flag_server):
    needs("remote")
    remote_server(flag_server)
    sample = find("def fetch_callback(user, variants):")
    ran: List[str] = []
    ns: Dict[str, Any] = {"branch": ran.append}
    run(
        f"{NEW_IMPORT} Experiment, User\n"
        "experiment = Experiment.initialize_remote('<DEPLOYMENT_KEY>')\n"
        "user = User(device_id='abcdefg', user_properties={'premium': False})\n",
        ns,
    )
    run(prepare(sample, repairs=mark_branches(sample, ["# Flag is on", "# Flag is off"])), ns)
    deadline = time.monotonic() + 10
    while not ran and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ran == ["# Flag is off"]


def local_flags(flag_server):
    flag_server.amplitude_flags = [
        premium_flag("YOUR-FLAG-KEY"),
        amplitude_flag("<FLAG_KEY>", "on"),
        amplitude_flag("<FLAG_KEY_1>", "treatment", payload={"color": "blue"}),
        amplitude_flag("<FLAG_KEY_2>", "control"),
        amplitude_flag("other-flag", "on"),
    ]


def test_local_quick_start_start_and_evaluate(flag_server):
    needs("local_network")
    local_flags(flag_server)
    quick = find("experiment = Experiment.initialize_local(api_key)")
    ns: Dict[str, Any] = {"api_key": "server-deployment-key"}
    run(f"{NEW_IMPORT} Experiment, User\n", ns)  # the quick start has no import line
    run(quick, ns)
    assert isinstance(ns["experiment"], LocalEvaluationClient)
    variants = ns["variants"]
    assert variants["YOUR-FLAG-KEY"].value == "on"
    assert variants["<FLAG_KEY_1>"].payload == {"color": "blue"}
    [request] = flag_server.requests_to("/sdk/v2/flags")
    assert request["query"] == {"v": ["0"]}
    assert request["headers"]["authorization"] == "Api-Key server-deployment-key"

    [start] = [b for b in blocks() if b.strip() == "experiment.start()"]
    run(start, ns)  # "experiment.start()" again: harmless

    evaluate = find("all_variants = experiment.evaluate_v2(user)")
    ran: List[str] = []
    ns["branch"] = ran.append
    run(prepare(evaluate, repairs=mark_branches(evaluate, ["# Flag is on", "# Flag is off"])), ns)
    assert ran == ["# Flag is on"]
    assert set(ns["specific_variants"]) == {"<FLAG_KEY_1>", "<FLAG_KEY_2>"}
    assert ns["specific_variants"]["<FLAG_KEY_2>"].key == "control"
    assert set(ns["all_variants"]) == {"YOUR-FLAG-KEY", "<FLAG_KEY>", "<FLAG_KEY_1>", "<FLAG_KEY_2>", "other-flag"}
    assert ns["all_variants"]["YOUR-FLAG-KEY"].key == "off"  # default variant included


class FakeRequest:
    def __init__(self, cookies: Dict[str, str]) -> None:
        self.cookies = cookies


class FakeResponse:
    def __init__(self) -> None:
        self.cookies: Dict[str, Any] = {}

    def set_cookie(self, name: str, options: Dict[str, Any]) -> None:
        self.cookies[name] = options


def cookie_sample() -> str:
    sample = find("AmplitudeCookie.cookie_name('amplitude-api-key')")
    # `nil` is not Python (the document's typo); `None` is what it means.
    return prepare(sample, [(IMPORT, NEW_IMPORT)], [("device_id = nil", "device_id = None")])


def test_cookie_sample_sets_a_cookie_when_absent():
    needs("cookie")
    resp = FakeResponse()
    ns = run(cookie_sample(), {"request": FakeRequest({}), "resp": resp})
    assert list(resp.cookies) == ["amp_amplit"]
    value = resp.cookies["amp_amplit"]["value"]
    assert value == ns["device_id"] + ".........."
    assert re.match(r"^[0-9a-f-]{36}$", ns["device_id"])


def test_cookie_sample_reads_an_existing_cookie():
    needs("cookie")
    resp = FakeResponse()
    cookie = "my-device.dXNlckBjb21wYW55LmNvbQ==........"
    ns = run(cookie_sample(), {"request": FakeRequest({"amp_amplit": cookie}), "resp": resp})
    assert ns["device_id"] == "my-device"
    assert resp.cookies == {}


def test_cookie_functions():
    needs("cookie")
    cookie = amplitude.AmplitudeCookie
    assert cookie.cookie_name("amplitude-api-key") == "amp_amplit"
    assert cookie.cookie_name("amplitude-api-key", new_format=True) == "AMP_amplitude-"
    assert (
        cookie.generate("someDeviceId", new_format=True)
        == "JTdCJTIyZGV2aWNlSWQlMjIlM0ElMjAlMjJzb21lRGV2aWNlSWQlMjIlN0Q="
    )
    user = cookie.parse(cookie.generate("someDeviceId", new_format=True), new_format=True)
    assert user.device_id == "someDeviceId" and user.user_id is None
    with pytest.raises(ValueError):
        cookie.cookie_name("short")


# ---------------------------------------------------------------------------------------
# Signatures and configuration tables of the document
# ---------------------------------------------------------------------------------------

TARGETS = {
    "Experiment.initialize_remote": Experiment.initialize_remote,
    "Experiment.initialize_local": Experiment.initialize_local,
    "fetch_v2": RemoteEvaluationClient.fetch_v2,
    "fetch_async_v2": RemoteEvaluationClient.fetch_async_v2,
    "start": LocalEvaluationClient.start,
    "evaluate_v2": LocalEvaluationClient.evaluate_v2,
}


@pytest.mark.parametrize("line", signature_blocks(AMPLITUDE))
def test_documented_signatures(line):
    call = line.split(" : ")[0]
    name, params = call.split("(", 1)
    fn = ast.parse(f"def f({params}: pass").body[0]
    documented = [a.arg for a in fn.args.args if a.arg != "self"]
    defaults = {a.arg: ast.literal_eval(d) for a, d in zip(fn.args.args[::-1], fn.args.defaults[::-1])}
    sig = inspect.signature(TARGETS[name])
    ours = [p for p in sig.parameters if p != "self"]
    assert ours[: len(documented)] == documented
    for p in ours[len(documented) :]:
        assert sig.parameters[p].default is not inspect.Parameter.empty, f"{name}: extra required {p}"
    for arg, default in defaults.items():
        assert sig.parameters[arg].default == default


def _default(text: str) -> Any:
    text = text.strip().strip("`")
    return {"false": False, "true": True, "None": None}.get(
        text, ast.literal_eval(text) if re.match(r"^[\d.]+$", text) else text
    )


def config_tables() -> List[List[tuple]]:
    tables, current = [], []
    for line in document(AMPLITUDE).splitlines():
        m = re.match(r"^\| `(\w+)` \|.*\| (.+?) \|$", line)
        if m:
            current.append((m.group(1), m.group(2)))
        elif current:
            if all(d.startswith(("`", "*")) for _, d in current):
                tables.append(current)
            current = []
    return tables


def test_configuration_tables_match_defaults():
    remote, local, assignment = config_tables()
    for name, default in remote:
        assert getattr(RemoteEvaluationConfig(), name) == _default(default), name
    for name, default in local:
        assert getattr(LocalEvaluationConfig(), name) == _default(default), name
    config = AssignmentConfig(api_key="analytics-key")
    for name, default in assignment:
        if "required" not in default:
            assert getattr(config, name) == _default(default), name
    assert [n for n, _ in assignment] == ["api_key", "cache_capacity"]
