"""Every Python sample of Eppo's Python SDK documentation, with only the import lines
changed (``eppo_client`` → ``allot.eppo``), against a real flag server on 127.0.0.1
(the default base URL points at it through ALLOT_EPPO_BASE_URL)."""

from __future__ import annotations

import sys
import time
import types
from typing import Any, Dict, List

import pytest

import allot.eppo

from conftest import eppo_flag, needs
from seeds import EPPO, prepare, python_blocks

IMPORTS = [
    ("import eppo_client\n", "import allot.eppo as eppo_client\n"),
    ("from eppo_client.config import Config", "from allot.eppo.config import Config"),
]
LOGGER_IMPORT = [("from eppo_client.assignment_logger import", "from allot.eppo.assignment_logger import")]
# The document marks elided code with "…", which is not Python; it stands for nothing.
ELISION = ("…\n", "")
FLAG = "<FLAG-OR-EXPERIMENT-KEY>"


def blocks() -> List[str]:
    return python_blocks(EPPO)


def find(*needles: str) -> str:
    found = [b for b in blocks() if all(n in b for n in needles)]
    assert len(found) == 1, f"expected one sample containing {needles}, found {len(found)}"
    return found[0]


def run(code: str, ns: Dict[str, Any]) -> Dict[str, Any]:
    exec(compile(code, "<seed sample>", "exec"), ns)
    return ns


def serve(flag_server) -> None:
    flag_server.ufc["flags"] = {FLAG: eppo_flag(FLAG, "fast_checkout")}


def wait_initialized(client, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not client.is_initialized():
        assert time.monotonic() < deadline, "configuration never loaded"
        time.sleep(0.01)


def test_every_sample_is_covered():
    assert len(blocks()) == 4


def init_sample(ns: Dict[str, Any]) -> None:
    run(prepare(find("eppo_client.init(client_config)"), IMPORTS, [ELISION]), ns)


def test_init_and_assign(flag_server):
    needs("eppo_network")
    serve(flag_server)
    ns: Dict[str, Any] = {}
    init_sample(ns)
    assert isinstance(ns["client"], allot.eppo.EppoClient)
    wait_initialized(ns["client"])  # initialization is non-blocking, as documented
    [request] = flag_server.requests_to("/flag-config/v1/config")[:1]
    assert request["query"]["apiKey"] == ["<YOUR_API_KEY>"]

    sample = find('if variation = "fast_checkout":')
    # The document's typos: "=" for "==", a bare "elif:", and "…" as the branch bodies.
    code = prepare(
        sample,
        repairs=[
            (
                'if variation = "fast_checkout":\n    …\nelif:\n    …',
                'if variation == "fast_checkout":\n    branch("fast")\nelse:\n    branch("other")',
            ),
            ELISION,
        ],
    )
    ran: List[str] = []
    ns["branch"] = ran.append
    run(code, ns)
    assert ns["variation"] == "fast_checkout"
    assert ran == ["fast"]


def test_assignment_logger_sample(flag_server, monkeypatch):
    needs("eppo_network")
    serve(flag_server)
    tracked: List[tuple] = []
    analytics = types.ModuleType("analytics")
    analytics.track = lambda *args: tracked.append(args)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "analytics", analytics)
    ns: Dict[str, Any] = {}
    init_sample(ns)
    run(prepare(find("class SegmentAssignmentLogger(AssignmentLogger):"), LOGGER_IMPORT), ns)
    assert analytics.write_key == "<SEGMENT_WRITE_KEY>"  # type: ignore[attr-defined]
    # The sample builds a Config; use it with the logger class it defines.
    config = ns["client_config"]
    config.assignment_logger = ns["SegmentAssignmentLogger"]()
    client = ns["eppo_client"].init(config)
    wait_initialized(client)
    assert client.get_string_assignment("user-7", FLAG, {"country": "US"}) == "fast_checkout"
    [(subject, event_name, event)] = tracked
    assert (subject, event_name) == ("user-7", "Eppo Randomization Assignment")
    for field in ("experiment", "subject", "variation", "timestamp", "subjectAttributes", "featureFlag", "allocation"):
        assert field in event, field
    assert event["featureFlag"] == FLAG and event["allocation"] == "everyone"
    assert event["experiment"] == f"{FLAG}-everyone" and event["variation"] == "fast_checkout"
    assert event["subjectAttributes"] == {"country": "US"}


def test_metadata_sample(flag_server):
    needs("eppo_network")
    serve(flag_server)
    ns: Dict[str, Any] = {}
    init_sample(ns)
    wait_initialized(ns["client"])
    run(prepare(find("# Optional map of subject metadata"), repairs=[ELISION]), ns)
    assert ns["variation"] == "fast_checkout"


def test_none_before_initialization(flag_server):
    needs("eppo_network")
    serve(flag_server)
    flag_server.behaviours["<YOUR_API_KEY>"] = "slow"
    flag_server.slow_seconds = 1.0
    ns: Dict[str, Any] = {}
    init_sample(ns)
    client = ns["client"]
    assert not client.is_initialized()
    assert client.get_string_assignment("<SUBJECT-KEY>", FLAG) is None  # "Handling None"
    assert client.get_string_assignment(FLAG, "<SUBJECT-KEY>", {}, "dflt") == "dflt"
    with pytest.raises(TimeoutError):
        client.wait_for_initialization(timeout=0.05)
    client.wait_for_initialization(timeout=10)
    assert client.get_string_assignment("<SUBJECT-KEY>", FLAG) == "fast_checkout"
