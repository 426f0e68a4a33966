#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/) from the conformance data
in ../shared/conformance, including inputs near the 1 MiB request cap.

Usage: scripts/fuzz-seeds.py [SHARED_DIR] [CORPUS_DIR]. Existing seeds are rewritten; what
the fuzzer added to a corpus is kept. Seeds larger than 128 KiB go to CORPUS_DIR/_large/.
"""

import base64
import hashlib
import json
import marshal
import pathlib
import sys
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared"
CORPUS = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "fuzz" / "corpus"
CONFORMANCE = SHARED / "conformance"
MIB = 1 << 20
# Larger seeds are run, not mutated (scripts/fuzz.sh).
LARGE = 128 << 10


def load(relative):
    return json.loads((CONFORMANCE / relative).read_text())


def dump(value):
    return json.dumps(value, separators=(",", ":")).encode()


def write(target, seeds):
    """Seeds up to LARGE bytes go to the corpus the fuzzer mutates, larger ones to
    _large/<target>/, which scripts/fuzz.sh runs once each (mutating 1 MiB inputs would
    make every execution slow)."""
    directories = [CORPUS / target, CORPUS / "_large" / target]
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("seed-*"):
            old.unlink()
    for index, seed in enumerate(seeds):
        directory = directories[len(seed) > LARGE]
        (directory / f"seed-{index:04d}").write_bytes(seed)
    large = sum(len(seed) > LARGE for seed in seeds)
    print(f"{target}: {len(seeds)} seeds ({large} larger than {LARGE} bytes), "
          f"largest {max(map(len, seeds))} bytes")


def padded(document, key, size):
    """`document` with a string member `key` that brings it to about `size` bytes."""
    base = len(dump(document)) + len(key) + 6
    return dump({**document, key: "x" * max(0, size - base)})


corpus = load("amplitude/generated_corpus.json")
fixture = load("amplitude/dependencies_fixture.json")
amplitude_flags = corpus["flags"] + fixture["flags"]
cases = corpus["cases"] + fixture["cases"]
ufc = load("eppo/flags-v1.json")
ufc_obfuscated = load("eppo/flags-v1-obfuscated.json")
eppo_cases = [
    json.loads(path.read_text())
    for path in sorted((CONFORMANCE / "eppo/tests").glob("*.json"))
]

# Amplitude configurations: every mode and option, all flags, each flag alone, bad ones.
tracking = {
    "api_key": "analytics-key", "server_url": "http://127.0.0.1:9", "cache_capacity": 16,
    "flush_queue_size": 10, "flush_interval_millis": 100, "send_evaluated_props": True,
    "max_queue_size": 100, "request_timeout_millis": 100, "retry_backoff_min_millis": 10,
    "retry_backoff_max_millis": 100, "shutdown_timeout_millis": 10,
}
local = {"provider": "amplitude", "mode": "local", "api_key": "server-key"}
init_amplitude = [
    dump({**local, "flags": amplitude_flags}),
    dump({**local, "flags": fixture["flags"], "assignment_config": tracking,
          "exposure_config": {**tracking, "server_zone": "EU"}}),
    dump({**local, "server_url": "http://127.0.0.1:9", "server_zone": "eu", "debug": True,
          "max_response_bytes": 1000, "flag_config_polling_interval_millis": 100,
          "flag_config_poller_request_timeout_millis": 100, "stream_updates": True,
          "stream_server_url": "http://127.0.0.1:9", "stream_flag_conn_timeout": 100,
          "stream_keepalive_timeout_millis": 100, "stream_retry_interval_millis": 100,
          "stream_retry_jitter_millis": 10, "stream_max_connection_millis": 1000,
          "stream_max_connection_jitter_millis": 10, "flags": fixture["flags"][:2]}),
    dump({"provider": "amplitude", "mode": "remote", "api_key": "server-key",
          "server_url": "http://127.0.0.1:9", "fetch_timeout_millis": 100, "fetch_retries": 2,
          "fetch_retry_backoff_min_millis": 1, "fetch_retry_backoff_max_millis": 10,
          "fetch_retry_backoff_scalar": 1.5, "fetch_retry_timeout_millis": 100}),
    dump({**local, "flags": [], "flagz": 1}),
    dump({**local, "mode": "hybrid", "flags": []}),
    dump({"provider": "amplitude"}),
    b"{\"provider\":\"amplitude\",\"flags\":[",
    b"\xff\xfe{}",
    b"[]",
]
init_amplitude += [dump({**local, "flags": [flag]}) for flag in amplitude_flags]
# Near the request cap and past it: many copies of the flags (renamed), and one huge flag.
copies, size = [], 0
while size < MIB:
    for flag in amplitude_flags:
        copy = {**flag, "key": f"{flag['key']}-{len(copies)}"}
        copies.append(copy)
        size += len(dump(copy))
init_amplitude.append(dump({**local, "flags": copies}))
init_amplitude.append(padded({**local, "flags": amplitude_flags[:1]}, "api_key", MIB))

# Eppo configurations.
eppo = {"provider": "eppo", "api_key": "sdk-key"}
init_eppo = [
    dump({**eppo, "initial_configuration": ufc}),
    dump({**eppo, "initial_configuration": ufc_obfuscated}),
    dump({**eppo, "initial_configuration": json.dumps(ufc)}),
    dump({**eppo, "initial_configuration": ufc, "base_url": "http://127.0.0.1:9",
          "poll_interval_seconds": 1, "poll_jitter_seconds": 0.5,
          "assignment_cache": {"capacity": 10, "ttl_seconds": 60}}),
    dump({**eppo, "base_url": "http://127.0.0.1:9"}),
    dump({**eppo, "initial_configuration": {"flags": {}}}),
    dump({**eppo, "initial_configuration": 7}),
    dump({"provider": "eppo"}),
    dump({"provider": "unknown"}),
]
for key, flag in ufc["flags"].items():
    init_eppo.append(dump({**eppo, "initial_configuration": {**ufc, "flags": {key: flag}}}))
big = dict(ufc["flags"])
while len(dump(big)) < MIB:
    for key, flag in ufc["flags"].items():
        big[f"{key}-{len(big)}"] = flag
init_eppo.append(dump({**eppo, "initial_configuration": {**ufc, "flags": big}}))

# Amplitude requests: every conformance case, with and without tracking, and large users.
requests = []
for case in cases:
    request = {"user": case["user"]}
    if "flag_keys" in case:
        request["flag_keys"] = case["flag_keys"]
    requests.append(dump(request))
for case in cases[:20]:
    requests.append(dump({"user": case["user"], "tracks_assignment": True,
                          "tracks_exposure": True, "timestamp_millis": 1_700_000_000_000}))
requests += [b"{}", b"{\"user\":null}", b"{\"user\":{}}", b"{\"user\":{\"user_id\":1}}",
             b"{\"user\":{},\"flag_keys\":[]}", b"{\"user\":{},\"extra\":true}", b"\xc3\x28", b""]
user = cases[0]["user"]
n = MIB // 8
requests.append(dump({"user": {**user, "user_properties": {
    "tags": [f"t{i}" for i in range(n // 2)]}}}))
requests.append(dump({"user": {**user, "cohort_ids": [f"c{i}" for i in range(n // 2)]}}))
requests.append(padded({"user": user}, "pad", MIB - 64))
requests.append(padded({"user": user}, "pad", MIB + 64))
requests.append(dump({"user": {**user, "user_id": "u" * (MIB - 200)}}))

# Eppo requests: every subject of every case, batches, details, dates, large ones.
eppo_requests = []
for case in eppo_cases:
    default = case["defaultValue"]
    if case["variationType"] == "JSON":
        default = json.dumps(default)
    for subject in case["subjects"]:
        eppo_requests.append(dump({
            "flag_key": case["flag"], "subject_key": subject["subjectKey"],
            "subject_attributes": subject["subjectAttributes"],
            "variation_type": case["variationType"], "default": default,
            "details": len(eppo_requests) % 2 == 0}))
batch = [json.loads(r) for r in eppo_requests[:40]]
eppo_requests.append(dump({"assignments": batch}))
eppo_requests.append(dump({"assignments": [{"flag_key": "kill-switch"}], "subject_key": "s",
                           "variation_type": "BOOLEAN", "default": False,
                           "now": "2024-01-01T00:00:00Z"}))
eppo_requests += [b"{}", b"{\"assignments\":[]}", b"{\"flag_key\":1}", b"\xc3\x28", b""]
first = json.loads(eppo_requests[0])
eppo_requests.append(dump({**first, "subject_attributes": {
    f"a{i}": i for i in range(MIB // 16)}}))
eppo_requests.append(dump({**first, "subject_key": "s" * (MIB - 300)}))
eppo_requests.append(dump({"assignments": [{}] * (MIB // 4), **first}))
eppo_requests.append(padded(first, "default", MIB + 64))

# Flags bodies and UFC bodies.
flags_bodies = [dump(amplitude_flags), dump(fixture["flags"]), dump(copies), b"[]", b"{}",
                b"[{\"key\":1}]", b"["]
flags_bodies += [dump([flag]) for flag in amplitude_flags]
ufc_bodies = [dump(ufc), dump({**ufc, "flags": big}), b"{}", b"{\"flags\":[]}", b"null"]
ufc_bodies += [dump({**ufc, "flags": {key: flag}}) for key, flag in ufc["flags"].items()]
obfuscated_bodies = [dump(ufc_obfuscated), dump({**ufc_obfuscated, "format": "SERVER"})]
obfuscated_bodies += [dump({**ufc_obfuscated, "flags": {key: flag}})
                      for key, flag in ufc_obfuscated["flags"].items()]
big_obfuscated = dict(ufc_obfuscated["flags"])
while len(dump(big_obfuscated)) < MIB:
    for key, flag in ufc_obfuscated["flags"].items():
        big_obfuscated[hashlib.md5(f"{key}-{len(big_obfuscated)}".encode()).hexdigest()] = flag
obfuscated_bodies.append(dump({**ufc_obfuscated, "flags": big_obfuscated}))


# Server-sent events: two leading bytes choose the event cap and the read size.
def sse(stream, cap=4, piece=3):
    return bytes([cap, piece]) + stream


flags_event = b"data: " + dump(fixture["flags"]) + b"\n\n"
sse_seeds = [
    sse(b": keep-alive\n\n" + flags_event),
    sse(b"data: [1,\ndata:2]\r\nid: 7\nevent: x\n\ndata:  \n\n\n", 3),
    sse(b"data: " + b"x" * 100 + b"\n\n", 2),
    sse(b"retry: 10\r\n:\r\ndata\r\n\r\n", 1),
    sse(b"data:\xff\xfe\n\n", 0),
    sse(flags_event * 3, 5, 31),
    sse(b"data: " + b"y" * (MIB + 10) + b"\n\n", 5),
    sse(b"data: x\n" * (MIB // 8), 5),
]

# Cookies: a flags byte (bit 0: new format) then the string.
new_cookie = base64.b64encode(urllib.parse.quote(
    json.dumps({"deviceId": "dev", "userId": "user@example.com"}), safe="/").encode())
cookies = [b"\x00dev-1." + base64.b64encode(b"user@example.com") + b"........",
           b"\x01" + new_cookie, b"\x00", b"\x01", b"\x00abcdefghijk", b"\x01abcdefghijk",
           b"\x01%%%", b"\x00..........", b"\x01d\xc3\xa9-vice/1", b"\x00\xf0\x9f\x98\x80",
           b"\x01" + "é".encode() * (MIB // 2 - 1)]

# Bandit models bodies: the public models, each bandit alone, edge parameters, a model
# with coefficients for thousands of actions (about 1 MiB), broken documents.
models = load("eppo/bandit-models-v1.json")
bandit_bodies = [dump(models), dump({**models, "bandits": {}}), b"{}", b"null", b"[]", b"{",
                 b"\xff", dump({**models, "bandits": []})]
bandit_bodies += [dump({**models, "bandits": {key: bandit}})
                  for key, bandit in models["bandits"].items()]
for change in ({"gamma": 0}, {"gamma": 1e308}, {"gamma": -1}, {"actionProbabilityFloor": 1},
               {"actionProbabilityFloor": 0.9}, {"defaultActionScore": -1e308},
               {"coefficients": {}}, {"coefficients": []}):
    changed = {key: {**bandit, "modelData": {**bandit["modelData"], **change}}
               for key, bandit in models["bandits"].items()}
    bandit_bodies.append(dump({**models, "bandits": changed}))
banner = models["bandits"]["banner_bandit"]
template = next(iter(banner["modelData"]["coefficients"].values()))
coefficients = {}
while len(dump(coefficients)) < MIB:
    key = f"action-{len(coefficients)}"
    coefficients[key] = {**template, "actionKey": key}
bandit_bodies.append(dump({**models, "bandits": {**models["bandits"], "banner_bandit": {
    **banner, "modelData": {**banner["modelData"], "coefficients": coefficients}}}}))


# Bandit requests: every subject of the public cases (split and plain attributes, with and
# without details and a fixed clock), many actions, huge attributes, bad requests.
def split_attributes(attributes):
    return {"numeric_attributes": attributes["numericAttributes"],
            "categorical_attributes": attributes["categoricalAttributes"]}


def plain_attributes(attributes):
    return {**attributes["numericAttributes"], **attributes["categoricalAttributes"]}


bandit_requests = []
for path in sorted((CONFORMANCE / "eppo/bandit-tests").glob("*.json")):
    case = json.loads(path.read_text())
    for subject in case["subjects"]:
        form = split_attributes if len(bandit_requests) % 2 == 0 else plain_attributes
        request = {"flag_key": case["flag"], "subject_key": subject["subjectKey"],
                   "subject_attributes": form(subject["subjectAttributes"]),
                   "actions": {a["actionKey"]: form(a) for a in subject["actions"]},
                   "default": case["defaultValue"]}
        if len(bandit_requests) % 3 == 0:
            request.update(details=True, now="2024-06-01T00:00:00Z")
        bandit_requests.append(dump(request))
bandit_first = json.loads(bandit_requests[0])
bandit_requests += [
    b"{}", b"{\"actions\":{}}", b"{\"actions\":[]}", b"\xc3\x28", b"",
    dump({**bandit_first, "actions": {}}),
    dump({**bandit_first, "default": 1}),
    dump({**bandit_first, "now": "-0001-01-01T00:00:00Z"}),
    dump({**bandit_first, "actions": {"a": {"numeric_attributes": {"x": 1e308},
                                            "categorical_attributes": {"y": True}}}}),
    dump({**bandit_first, "subject_attributes": None, "extra": 1}),
]
action = next(iter(bandit_first["actions"].values()))
bandit_requests.append(dump({**bandit_first, "actions": {
    f"action-{i}": action for i in range(MIB // 120)}}))
bandit_requests.append(dump({**bandit_first, "subject_attributes": {
    f"a{i}": i for i in range(MIB // 16)}}))
bandit_requests.append(padded(bandit_first, "default", MIB + 64))

# The Amplitude fast lane: the user JSON, then a NUL and the options JSON when given (flag
# keys, or an object of flag keys and tracking).
compact_seeds = []
for case in cases:
    seed = dump(case["user"])
    if "flag_keys" in case:
        seed += b"\0" + dump(case["flag_keys"])
    compact_seeds.append(seed)
compact_seeds += [dump(user) + b"\0" + dump([flag["key"] for flag in amplitude_flags[:5]]),
                  dump(user) + b"\0[]", dump(user) + b"\0{}", dump(user) + b"\0[1]",
                  dump(user) + b"\0", b"{}", b"{\"nope\":1}", b"[1]", b"null", b"{", b"\xc3\x28",
                  b""]
compact_seeds += [json.dumps(json.loads(seed)["user"], separators=(",", ":")).encode()
                  for seed in requests[-5:-3] + requests[-1:]]
compact_seeds.append(dump(user) + b"\0" + dump([f"key-{i}" for i in range(MIB // 12)]))
compact_seeds += [dump(user) + b"\0" + dump(options) for options in (
    {"flag_keys": [amplitude_flags[0]["key"]], "tracks_exposure": True},
    {"tracks_assignment": False, "tracks_exposure": False},
    {"flag_keys": None}, {"user": user}, {"tracks_exposure": 1})]

# The Eppo fast lane: a byte (variation type index, bit 3 for wants_event), then the flag
# key, the subject key and the attributes JSON, separated by NUL bytes.
TYPES = ["STRING", "INTEGER", "NUMERIC", "BOOLEAN", "JSON"]


def assign_seed(type_index, event, flag, subject, attributes=None):
    seed = bytes([type_index | (8 if event else 0)]) + flag.encode() + b"\0" + subject.encode()
    if attributes is not None:
        seed += b"\0" + dump(attributes)
    return seed


assign_seeds = []
for case in eppo_cases:
    for subject in case["subjects"]:
        assign_seeds.append(assign_seed(
            TYPES.index(case["variationType"]), len(assign_seeds) % 2 == 0, case["flag"],
            subject["subjectKey"], subject["subjectAttributes"]))
assign_seeds += [assign_seed(2, True, "numeric_flag", "alice"),
                 assign_seed(5, True, "numeric_flag", "alice"),
                 assign_seed(7, False, "kill-switch", "s", []),
                 assign_seed(0, True, "kill-switch", "s", None) + b"\0{",
                 b"\x08", b"", b"\x00\xff\x00\xfe\x00{}",
                 assign_seed(3, True, "kill-switch", "s" * (MIB - 100)),
                 assign_seed(3, True, "kill-switch", "s", {f"a{i}": i for i in range(MIB // 16)}),
                 assign_seed(3, True, "kill-switch", "s", {"country": "x" * (MIB + 10)})]

# The marshalled attributes (CPython's marshal version 2, as the Python binding sends
# them): a byte picking a UFC flag in key order, then the attributes.
ufc_keys = sorted(load("eppo/flags-v1.json")["flags"])
marshal_seeds = []
for case in eppo_cases:
    if case["flag"] in ufc_keys:
        for subject in case["subjects"]:
            marshal_seeds.append(bytes([ufc_keys.index(case["flag"])])
                                 + marshal.dumps(subject["subjectAttributes"], 2))
marshal_seeds += [b"\0" + marshal.dumps(value, 2) for value in (
    None, [], {"n": 2**70}, {"t": (1, 2.5, "x")}, {"a": {"b": [True, None]}},
    {f"a{i}": i for i in range(MIB // 16)})]

# The marshalled Amplitude user: the tuple of the Python SDK's User fields in order (as the
# Python binding sends it), for every conformance user; wrong lengths, a dict, a type
# marshal-only, a large user.
USER_FIELDS = ("device_id", "user_id", "country", "city", "region", "dma", "language",
               "platform", "version", "os", "device_manufacturer", "device_brand",
               "device_model", "carrier", "library", "ip_address", "user_properties", "groups",
               "group_properties", "group_cohort_ids", "cohort_ids")


def user_tuple(user):
    return marshal.dumps(tuple(user.get(name) for name in USER_FIELDS), 2)


marshal_user_seeds = [user_tuple(case["user"]) for case in cases]
marshal_user_seeds += [marshal.dumps(value, 2) for value in (
    (), ("d", "u"), tuple([None] * 22), [None] * 21, dict(user), None,
    ("d", "u") + (None,) * 14 + ({"s": {1, 2}},) + (None,) * 4,
    ("d", "u") + (None,) * 14 + ({"n": 2**70, "f": 1.5, "t": (1, "x")},) + (None,) * 4)]
marshal_user_seeds.append(user_tuple({**user, "cohort_ids": [f"c{i}" for i in range(MIB // 12)]}))

murmur = load("amplitude/murmur3_vectors.json")["vectors"]
murmur_seeds = [dump({"input": v["input"], "seed": v["seed"]}) for v in murmur[::50]]
murmur_seeds += [b"{\"input\":\"\"}", b"{\"input\":\"x\",\"seed\":-1}", b"{}",
                 padded({"seed": 1}, "input", MIB - 16)]

write("init_amplitude", init_amplitude)
write("init_eppo", init_eppo)
write("evaluate_amplitude", requests)
write("fetch_amplitude", requests)
write("evaluate_eppo", eppo_requests)
write("flags_amplitude", flags_bodies)
write("ufc_eppo", ufc_bodies)
write("ufc_eppo_obfuscated", obfuscated_bodies)
write("sse", sse_seeds)
write("cookie", cookies)
write("murmur3", murmur_seeds)
write("bandit_models", bandit_bodies)
write("evaluate_bandit", bandit_requests)
write("compact_amplitude", compact_seeds)
write("assign_eppo", assign_seeds)
write("marshal_eppo", marshal_seeds)
write("marshal_amplitude", marshal_user_seeds)
# A short hash of the conformance data, so a run records what its seeds came from.
digest = hashlib.sha256()
for path in sorted(CONFORMANCE.rglob("*.json")):
    digest.update(path.read_bytes())
print(f"seeds from {CONFORMANCE} (sha256 {digest.hexdigest()[:12]})")
