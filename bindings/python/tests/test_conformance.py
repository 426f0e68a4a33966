"""The shared conformance corpora through the Python API: Amplitude's dependency fixture
and generated corpus through ``LocalEvaluationClient.evaluate_v2``, and Eppo's 225 subjects
through both calling conventions, on the plain and the obfuscated configuration."""

from __future__ import annotations

import json
from typing import Any, Dict

import pytest

import allot.eppo as eppo
from allot.amplitude import LocalEvaluationClient, LocalEvaluationConfig, User, Variant
from allot.eppo.config import Config, Configuration

from conftest import load_json, needs, shared


@pytest.mark.parametrize("name", ["dependencies_fixture.json", "generated_corpus.json"])
def test_amplitude_corpus(name):
    data = load_json(shared("conformance", "amplitude", name))
    compared = 0
    with LocalEvaluationClient("server-key", LocalEvaluationConfig(flags=data["flags"])) as client:
        client.start()
        for i, case in enumerate(data["cases"]):
            variants = client.evaluate_v2(User(**case["user"]), case.get("flag_keys"))
            expected = case["expected"]
            assert set(variants) == set(expected), f"case {i}"
            for flag, want in expected.items():
                got = variants[flag]
                assert isinstance(got, Variant)
                assert got == Variant(want.get("value"), want.get("payload"), want.get("key")), f"case {i} {flag}"
                assert got.metadata == want.get("metadata"), f"case {i} {flag} metadata"
                compared += 1
    assert compared >= (12_542 if name == "generated_corpus.json" else 6)


def test_murmur3_vectors():
    from allot import _native

    for v in load_json(shared("conformance", "amplitude", "murmur3_vectors.json"))["vectors"]:
        assert _native.murmur3(v["input"], v["seed"]) == v["hash"], v["input"]


CURRENT = {
    "STRING": "get_string_assignment",
    "INTEGER": "get_integer_assignment",
    "NUMERIC": "get_numeric_assignment",
    "BOOLEAN": "get_boolean_assignment",
    "JSON": "get_json_assignment",
}
LEGACY = {
    "STRING": "get_string_assignment",
    "NUMERIC": "get_numeric_assignment",
    "BOOLEAN": "get_boolean_assignment",
    "JSON": "get_parsed_json_assignment",
}


class Recorder(eppo.AssignmentLogger):
    def __init__(self) -> None:
        self.events = []

    def log_assignment(self, assignment_event: Dict[str, Any]) -> None:
        self.events.append(assignment_event)


@pytest.mark.parametrize("flags_file", ["flags-v1.json", "flags-v1-obfuscated.json"])
def test_eppo_225_subjects(flags_file):
    needs("eppo")
    text = shared("conformance", "eppo", flags_file).read_bytes()
    recorder = Recorder()
    client = eppo.init(
        Config(
            api_key="sdk-key", assignment_logger=recorder, initial_configuration=Configuration(flags_configuration=text)
        )
    )
    client.wait_for_initialization(timeout=5)
    assert client.is_initialized()
    subjects = 0
    for path in sorted(shared("conformance", "eppo", "tests").glob("*.json")):
        case = load_json(path)
        vtype, flag, default = case["variationType"], case["flag"], case["defaultValue"]
        current = getattr(client, CURRENT[vtype])
        for s in case["subjects"]:
            subjects += 1
            key, attrs = s["subjectKey"], s["subjectAttributes"]
            where = f"{path.name} {key}"
            assert current(flag, key, attrs, default) == s["assignment"], where
            # The same call by keyword binds the same way.
            assert current(flag_key=flag, subject_key=key, subject_attributes=attrs, default=default) == s["assignment"]
            details = getattr(client, CURRENT[vtype] + "_details")(flag, key, attrs, default)
            assert details.variation == s["assignment"], where
            want = s["evaluationDetails"]
            got = details.evaluation_details
            assert got["flagEvaluationCode"] == want["flagEvaluationCode"], where
            assert got["variationKey"] == want["variationKey"], where
            assert got.get("matchedAllocation") == want["matchedAllocation"], where
            if vtype in LEGACY:
                legacy = getattr(client, LEGACY[vtype])(key, flag, attrs)
                matched = want["flagEvaluationCode"] == "MATCH"
                assert legacy == (s["assignment"] if matched else None), where
                if vtype == "JSON":
                    string = client.get_json_string_assignment(key, flag, attrs)
                    assert (json.loads(string) if string is not None else None) == legacy, where
    assert subjects == 225
    # Without a logger the binding decodes only the head of each result: same answers.
    quiet = eppo.EppoClient(Config(api_key="sdk-key", initial_configuration=Configuration(flags_configuration=text)))
    quiet.wait_for_initialization(timeout=5)
    for path in sorted(shared("conformance", "eppo", "tests").glob("*.json")):
        case = load_json(path)
        current = getattr(quiet, CURRENT[case["variationType"]])
        for s in case["subjects"]:
            got = current(case["flag"], s["subjectKey"], s["subjectAttributes"], case["defaultValue"])
            assert got == s["assignment"], f"{path.name} {s['subjectKey']} (no logger)"
            if case["variationType"] in LEGACY:
                legacy = getattr(quiet, LEGACY[case["variationType"]])(
                    s["subjectKey"], case["flag"], s["subjectAttributes"]
                )
                matched = s["evaluationDetails"]["flagEvaluationCode"] == "MATCH"
                assert legacy == (s["assignment"] if matched else None)
    quiet.shutdown()
    assert recorder.events, "doLog allocations produce assignment events"
    event = recorder.events[0]
    assert {
        "featureFlag",
        "allocation",
        "experiment",
        "variation",
        "subject",
        "subjectAttributes",
        "timestamp",
        "metaData",
    } <= set(event)
    client.shutdown()
