"""Eppo contextual bandits through the Python API: the 10 public bandit cases, the
loggers' two callbacks, and a differential test against Eppo's own SDK
(``eppo-server-sdk``, installed in the test venv) on thousands of random cases."""

from __future__ import annotations

import json
import random
from typing import Any, Dict, List, Tuple

import pytest

import allot.eppo as eppo
from allot.eppo.bandit import BanditResult, ContextAttributes
from allot.eppo.config import Config, Configuration

from conftest import load_json, needs, shared


class Recorder(eppo.AssignmentLogger):
    def __init__(self) -> None:
        self.assignments: List[Dict[str, Any]] = []
        self.bandits: List[Dict[str, Any]] = []

    def log_assignment(self, assignment_event: Dict[str, Any]) -> None:
        self.assignments.append(assignment_event)

    def log_bandit_action(self, bandit_event: Dict[str, Any]) -> None:
        self.bandits.append(bandit_event)


def conformance_client(recorder: Recorder) -> eppo.EppoClient:
    needs("eppo")
    flags = shared("conformance", "eppo", "bandit-flags-v1.json").read_bytes()
    models = shared("conformance", "eppo", "bandit-models-v1.json").read_bytes()
    configuration = Configuration(flags_configuration=flags, bandits_configuration=models)
    client = eppo.EppoClient(Config(api_key="sdk-key", assignment_logger=recorder, initial_configuration=configuration))
    client.wait_for_initialization(timeout=5)
    return client


def context(attributes: Dict[str, Any]) -> ContextAttributes:
    return ContextAttributes(attributes["numericAttributes"], attributes["categoricalAttributes"])


def test_public_bandit_cases():
    client = conformance_client(Recorder())
    assert client.get_bandit_keys() == {"banner_bandit", "car_bandit", "cold_start_bandit"}
    paths = sorted(shared("conformance", "eppo", "bandit-tests").glob("*.json"))
    assert len(paths) == 10
    subjects = 0
    for path in paths:
        case = load_json(path)
        for s in case["subjects"]:
            subjects += 1
            actions = {a["actionKey"]: context(a) for a in s["actions"]}
            result = client.get_bandit_action(
                case["flag"], s["subjectKey"], context(s["subjectAttributes"]), actions, case["defaultValue"]
            )
            assert isinstance(result, BanditResult)
            got = {"variation": result.variation, "action": result.action}
            assert got == s["assignment"], f"{path.name} {s['subjectKey']}"
    assert subjects >= 30


def test_loggers_receive_the_assignment_and_the_bandit_action():
    recorder = Recorder()
    client = conformance_client(recorder)
    actions = {
        "nike": {"brand_affinity": 1.5, "loyalty_tier": "silver"},
        "adidas": {"brand_affinity": -1.0, "loyalty_tier": "bronze"},
    }
    subject = {"age": 25, "country": "USA", "gender_identity": "female", "vip": True}
    result = client.get_bandit_action("banner_bandit_flag", "alice", subject, actions, "default")
    assert result.variation == "banner_bandit"
    assert result.action in actions
    assert result.evaluation_details is None
    assert [e["featureFlag"] for e in recorder.assignments] == ["banner_bandit_flag"]
    (event,) = recorder.bandits
    assert event["banditKey"] == "banner_bandit"
    assert event["action"] == result.action
    assert event["subjectNumericAttributes"] == {"age": 25.0}
    assert event["subjectCategoricalAttributes"] == {"country": "USA", "gender_identity": "female", "vip": True}
    assert event["actionNumericAttributes"] == {"brand_affinity": actions[result.action]["brand_affinity"]}
    assert 0 < event["actionProbability"] <= 1
    details = client.get_bandit_action_details("banner_bandit_flag", "alice", subject, actions, "default")
    assert details.action == result.action
    assert details.evaluation_details["banditKey"] == "banner_bandit"
    assert details.evaluation_details["banditAction"] == result.action


def test_a_raising_logger_and_bad_input_never_break_the_call():
    class Raising(eppo.AssignmentLogger):
        def log_bandit_action(self, bandit_event: Dict[str, Any]) -> None:
            raise RuntimeError("boom")

    client = conformance_client(Raising())
    result = client.get_bandit_action("car_bandit_flag", "anastasia", {}, {"dodge": {}}, "default")
    assert (result.variation, result.action) == ("car_bandit", "dodge")
    bad = client.get_bandit_action("car_bandit_flag", "anastasia", {"tags": [1, 2]}, {"dodge": {}}, "default")
    assert (bad.variation, bad.action) == ("default", None)


def test_non_finite_numbers_score_as_missing_values():
    recorder = Recorder()
    client = conformance_client(recorder)
    actions = {"nike": {"brand_affinity": float("nan")}, "adidas": {"brand_affinity": 1.0}}
    for subject in ({"account_age": float("inf"), "country": "USA"}, {"country": "USA"}):
        result = client.get_bandit_action("banner_bandit_flag", "bob", subject, actions, "default")
        assert result.variation == "banner_bandit"
        assert result.action is not None
    with_inf, without = recorder.bandits
    assert (with_inf["action"], with_inf["actionProbability"]) == (without["action"], without["actionProbability"])


def test_configuration_lists_its_flags_and_bandits():
    flags = shared("conformance", "eppo", "bandit-flags-v1.json").read_bytes()
    models = shared("conformance", "eppo", "bandit-models-v1.json").read_bytes()
    configuration = Configuration(flags_configuration=flags, bandits_configuration=models)
    assert configuration.get_bandit_keys() == {"banner_bandit", "car_bandit", "cold_start_bandit"}
    assert "car_bandit_flag" in configuration.get_flag_keys()
    assert configuration.get_bandits_configuration() == models
    assert Configuration(flags_configuration=flags).get_bandit_keys() == set()


def test_context_attributes_split_as_the_vendor_does():
    attributes = ContextAttributes.from_dict({"age": 30, "score": 1.5, "tier": "gold", "vip": False, "gone": None})
    assert attributes.numeric_attributes == {"age": 30.0, "score": 1.5}
    assert attributes.categorical_attributes == {"tier": "gold", "vip": False}
    assert ContextAttributes.empty().numeric_attributes == {}


# ---------------------------------------------------------------------------------------
# Differential test against eppo-server-sdk
# ---------------------------------------------------------------------------------------

ACTIONS = [f"act{i}" for i in range(8)]
NUMERIC = ["n0", "n1", "n2", "n3"]
CATEGORICAL = ["c0", "c1", "c2"]
CATEGORIES = ["x", "y", "z", "1", "2.5", "true", "false"]


def random_coefficients(rng: random.Random, keys: List[str], categorical: bool) -> List[Dict[str, Any]]:
    chosen = rng.sample(keys, rng.randint(0, len(keys)))
    if categorical:
        return [
            {
                "attributeKey": key,
                "valueCoefficients": {v: rng.gauss(0, 2) for v in rng.sample(CATEGORIES, rng.randint(0, 4))},
                "missingValueCoefficient": rng.gauss(0, 1),
            }
            for key in chosen
        ]
    return [
        {"attributeKey": key, "coefficient": rng.gauss(0, 2), "missingValueCoefficient": rng.gauss(0, 1)}
        for key in chosen
    ]


def random_model(rng: random.Random, key: str) -> Dict[str, Any]:
    coefficients = {}
    for action in rng.sample(ACTIONS, rng.randint(0, len(ACTIONS))):
        coefficients[action] = {
            "actionKey": action,
            "intercept": rng.gauss(0, 3),
            "subjectNumericCoefficients": random_coefficients(rng, NUMERIC, False),
            "subjectCategoricalCoefficients": random_coefficients(rng, CATEGORICAL, True),
            "actionNumericCoefficients": random_coefficients(rng, NUMERIC, False),
            "actionCategoricalCoefficients": random_coefficients(rng, CATEGORICAL, True),
        }
    return {
        "banditKey": key,
        "modelName": "falcon",
        "modelVersion": f"v{rng.randint(1, 99)}",
        "updatedAt": "2024-01-01T00:00:00.000Z",
        "modelData": {
            "gamma": rng.choice([0.0, 0.5, 1.0, rng.uniform(0, 50)]),
            "defaultActionScore": rng.gauss(0, 2),
            "actionProbabilityFloor": rng.choice([0.0, 0.1, rng.uniform(0, 1)]),
            "coefficients": coefficients,
        },
    }


def random_configuration(rng: random.Random, count: int) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``count`` flags ``flag{i}`` splitting traffic between bandit ``bandit{i}`` and a
    plain ``control`` variation, and their models."""
    flags, links, references, models = {}, {}, {}, {}
    for i in range(count):
        flag, bandit = f"flag{i}", f"bandit{i}"
        split_at = rng.choice([0, 5000, 10000])
        flags[flag] = {
            "key": flag,
            "enabled": True,
            "variationType": "STRING",
            "variations": {bandit: {"key": bandit, "value": bandit}, "control": {"key": "control", "value": "control"}},
            "allocations": [
                {
                    "key": "alloc",
                    "splits": [
                        {"variationKey": bandit, "shards": [{"salt": flag, "ranges": [{"start": 0, "end": split_at}]}]},
                        {"variationKey": "control", "shards": []},
                    ],
                    "doLog": True,
                }
            ],
            "totalShards": 10000,
        }
        variation = {"key": bandit, "flagKey": flag, "variationKey": bandit, "variationValue": bandit}
        links[bandit] = [variation]
        model = random_model(rng, bandit)
        models[bandit] = model
        references[bandit] = {"modelVersion": model["modelVersion"], "flagVariations": [variation]}
    ufc = {
        "createdAt": "2024-01-01T00:00:00.000Z",
        "format": "SERVER",
        "environment": {"name": "Test"},
        "flags": flags,
        "bandits": links,
        "banditReferences": references,
    }
    return ufc, {"updatedAt": "2024-01-01T00:00:00.000Z", "bandits": models}


def random_value(rng: random.Random, numeric: bool) -> Any:
    if numeric:
        return rng.choice([rng.gauss(0, 10), rng.randint(-5, 5), 0.0, rng.uniform(-1e6, 1e6)])
    return rng.choice(CATEGORIES + [1, 2.5, True, False, "other"])


def random_attributes(rng: random.Random, split: bool):
    numeric = {k: random_value(rng, True) for k in NUMERIC if rng.random() < 0.6}
    categorical = {k: random_value(rng, False) for k in CATEGORICAL if rng.random() < 0.6}
    if split:
        return numeric, categorical
    # A plain dictionary: split by value type (numbers numeric, strings and booleans
    # categorical, None missing), so categorical numbers become numeric here.
    plain: Dict[str, Any] = {**numeric, **categorical}
    if rng.random() < 0.3:
        plain[rng.choice(NUMERIC + CATEGORICAL)] = None
    return plain


def test_differential_against_eppo_server_sdk():
    needs("eppo")
    eppo_client = pytest.importorskip("eppo_client", reason="eppo-server-sdk is not installed")
    from eppo_client.bandit import ContextAttributes as VendorContext

    class VendorRecorder(eppo_client.AssignmentLogger):
        def __init__(self) -> None:
            super().__init__()
            self.assignments: List[Dict[str, Any]] = []
            self.bandits: List[Dict[str, Any]] = []

        def log_assignment(self, event: Dict[str, Any]) -> None:
            self.assignments.append(event)

        def log_bandit_action(self, event: Dict[str, Any]) -> None:
            self.bandits.append(event)

    rng = random.Random(20240601)
    cases = chosen = 0
    for _round in range(5):
        ufc, models = random_configuration(rng, 10)
        flags_text, models_text = json.dumps(ufc).encode(), json.dumps(models).encode()
        theirs_log = VendorRecorder()
        theirs = eppo_client.init(
            eppo_client.ClientConfig(
                api_key="sdk-key",
                base_url="http://127.0.0.1:9",
                assignment_logger=theirs_log,
                poll_interval_seconds=None,
                initial_configuration=eppo_client.Configuration(
                    flags_configuration=flags_text, bandits_configuration=models_text
                ),
            )
        )
        ours_log = Recorder()
        ours = eppo.EppoClient(
            Config(
                api_key="sdk-key",
                assignment_logger=ours_log,
                initial_configuration=Configuration(flags_configuration=flags_text, bandits_configuration=models_text),
            )
        )
        ours.wait_for_initialization(timeout=5)
        for _ in range(1000):
            cases += 1
            flag = f"flag{rng.randrange(10)}" if rng.random() < 0.97 else "missing_flag"
            subject = f"subject-{rng.getrandbits(40):x}"
            split = rng.random() < 0.5
            subject_attributes = random_attributes(rng, split)
            action_keys = rng.sample(ACTIONS + ["unknown"], rng.randint(0, 6))
            action_attributes = {key: random_attributes(rng, split) for key in action_keys}
            if split:
                their_subject = VendorContext(*subject_attributes)
                our_subject = ContextAttributes(*subject_attributes)
                their_actions = {k: VendorContext(*v) for k, v in action_attributes.items()}
                our_actions = {k: ContextAttributes(*v) for k, v in action_attributes.items()}
            else:
                their_subject = our_subject = subject_attributes
                their_actions = our_actions = action_attributes
            where = f"case {cases}: {flag} {subject} {subject_attributes} {action_attributes}"
            n_theirs, n_ours = len(theirs_log.bandits), len(ours_log.bandits)
            want = theirs.get_bandit_action(flag, subject, their_subject, their_actions, "default")
            got = ours.get_bandit_action(flag, subject, our_subject, our_actions, "default")
            assert (got.variation, got.action) == (want.variation, want.action), where
            assert len(ours_log.bandits) - n_ours == len(theirs_log.bandits) - n_theirs, where
            if want.action is not None:
                chosen += 1
                mine, theirs_event = ours_log.bandits[-1], theirs_log.bandits[-1]
                for field in ("actionProbability", "optimalityGap"):
                    assert mine[field] == pytest.approx(theirs_event[field], abs=1e-9), f"{field} {where}"
                for field in (
                    "flagKey",
                    "banditKey",
                    "subject",
                    "action",
                    "modelVersion",
                    "subjectNumericAttributes",
                    "subjectCategoricalAttributes",
                    "actionNumericAttributes",
                    "actionCategoricalAttributes",
                ):
                    assert mine[field] == theirs_event[field], f"{field} {where}"
        assert len(ours_log.assignments) == len(theirs_log.assignments)
        for mine, theirs_event in zip(ours_log.assignments, theirs_log.assignments):
            for field in ("featureFlag", "allocation", "experiment", "variation", "subject", "subjectAttributes"):
                assert mine[field] == theirs_event[field], field
        ours.shutdown()
        theirs.shutdown()
    assert cases == 5000
    assert chosen > 1000, f"only {chosen} cases chose an action"
