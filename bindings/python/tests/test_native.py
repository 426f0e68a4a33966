"""The native layer: declarations against include/allot.h, the loader, the envelope and
the mapping of every error code to an exception."""

from __future__ import annotations

import ctypes
import json
import re
import subprocess
import sys
from ctypes import POINTER, c_bool, c_char_p, c_int64, c_size_t, c_uint32, c_uint64, c_void_p

import pytest

import allot
from allot import _native
from allot.amplitude import Experiment, LocalEvaluationConfig, RemoteEvaluationConfig, User

from conftest import REPO, amplitude_flag, needs

HEADER = REPO / "include" / "allot.h"

# Functions the binding declares ahead of the core (they land in main separately).
PENDING = {"allot_cookie_name", "allot_cookie_parse", "allot_cookie_generate"}


def _ctype(c_type: str, is_return: bool):
    t = " ".join(c_type.replace("*", " * ").split())
    table = {
        "uint64_t": c_uint64,
        "uint32_t": c_uint32,
        "int64_t": c_int64,
        "size_t": c_size_t,
        "bool": c_bool,
        # the fast lane's output buffer, owned by the caller
        "uint8_t *": c_void_p,
        # a borrowed byte array of a given length (the marshalled attributes): bytes
        "const uint8_t *": c_char_p,
        "void": None,
        # returned strings are owned by the caller: c_void_p, copied, then freed
        "char *": c_void_p,
        # inputs are borrowed NUL-terminated strings; a returned const char * is static
        "const char *": c_char_p,
        "char * *": POINTER(c_void_p),
    }
    if t == "char *" and not is_return:
        return c_void_p  # allot_string_free's argument
    return table[t]


def header_declarations():
    text = HEADER.read_text(encoding="utf-8")
    decls = {}
    pattern = re.compile(r"^([A-Za-z_][\w \t\*]*?)\s*\b(allot_\w+)\s*\(([^)]*)\)\s*;", re.M)
    for ret, name, params in pattern.findall(text):
        args = []
        params = params.strip()
        if params and params != "void":
            for p in params.split(","):
                p = " ".join(p.split())
                m = re.match(r"^(.*?)(\w+)$", p)
                assert m, f"cannot parse parameter {p!r} of {name}"
                args.append(_ctype(m.group(1).strip() or p, False))
        decls[name] = (_ctype(ret.strip(), True), args)
    return decls


def test_every_header_declaration_is_declared_exactly():
    decls = header_declarations()
    assert {"allot_init", "allot_evaluate", "allot_string_free", "allot_version"} <= set(decls)
    for name, (restype, argtypes) in decls.items():
        assert name in _native.SIGNATURES, f"{name} is in allot.h but not declared in allot._native"
        ours_res, ours_args = _native.SIGNATURES[name]
        assert ours_res == restype, f"{name}: restype {ours_res} != header {restype}"
        assert list(ours_args) == list(argtypes), f"{name}: argtypes {ours_args} != header {argtypes}"
        fn = getattr(_native.lib, name)
        assert fn.restype == restype and list(fn.argtypes) == list(argtypes), f"{name} not applied"
    for name in set(_native.SIGNATURES) - set(decls):
        assert name in PENDING, f"{name} is declared in Python but not in allot.h"


def test_no_owned_string_is_declared_c_char_p():
    for name, (restype, _args) in _native.SIGNATURES.items():
        if name != "allot_version":
            assert restype is not c_char_p, f"{name} would leak its result as c_char_p"


def test_loader_order_is_env_then_bundled_then_system(monkeypatch, tmp_path):
    monkeypatch.setenv("ALLOT_LIBRARY_PATH", str(tmp_path))
    origins = [origin for origin, _ in _native.candidates()]
    assert origins[:2] == ["ALLOT_LIBRARY_PATH", "bundled"]
    assert origins[2:] and set(origins[2:]) == {"system"}
    assert _native.candidates()[0][1] == str(tmp_path / "liballot.so")
    assert _native.candidates()[-2][1] == "liballot.so.0"


def test_loader_failure_lists_every_path_and_why(monkeypatch, tmp_path):
    garbage = tmp_path / "liballot.so"
    garbage.write_bytes(b"not an ELF file")
    monkeypatch.setattr(
        _native,
        "candidates",
        lambda: [
            ("ALLOT_LIBRARY_PATH", str(tmp_path / "missing" / "liballot.so")),
            ("bundled", str(garbage)),
            ("system", "liballot-that-does-not-exist.so.0"),
        ],
    )
    with pytest.raises(_native.LibraryNotFoundError) as info:
        _native.load_library()
    message = str(info.value)
    assert "missing/liballot.so (ALLOT_LIBRARY_PATH): no such file" in message
    assert f"{garbage} (bundled)" in message
    assert "liballot-that-does-not-exist.so.0 (system)" in message
    assert len(info.value.attempts) == 3
    assert isinstance(info.value, ImportError)


def test_library_path_env_var_wins(tmp_path):
    copy = tmp_path / "liballot.so"
    copy.write_bytes(open(_native.library_path, "rb").read())
    out = subprocess.run(
        [sys.executable, "-c", "import allot; print(allot.library_path)"],
        env={"ALLOT_LIBRARY_PATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(copy)


def test_installed_package_is_used_not_the_source_tree():
    import os

    if os.environ.get("ALLOT_TEST_INSTALLED") != "1":
        pytest.skip("only checked when run from the wheel's venv (make test-python)")
    assert "site-packages" in allot.__file__
    assert _native.library_path.endswith(os.path.join("allot", "_lib", "liballot.so"))


def test_version_and_murmur3():
    assert re.match(r"^\d+\.\d+\.\d+", allot.native_version())
    assert _native.murmur3("hello", 0) == 613153351


# ---------------------------------------------------------------------------------------
# Error mapping
# ---------------------------------------------------------------------------------------

ALL_CODES = [
    "invalid_argument",
    "invalid_utf8",
    "invalid_json",
    "invalid_config",
    "input_too_large",
    "unknown_handle",
    "not_started",
    "dependency_cycle",
    "unsupported",
    "internal",
    "network",
    "timeout",
    "http_status",
    "invalid_response",
    "unauthorized",
]


@pytest.mark.parametrize("code", ALL_CODES)
def test_every_envelope_code_maps_to_its_exception(code):
    envelope = json.dumps({"error": {"code": code, "message": "why"}}).encode()
    with pytest.raises(allot.AllotError) as info:
        _native.decode(envelope)
    assert info.value.code == code
    assert info.value.message == "why"
    assert type(info.value) is allot.ERROR_CLASSES[code]
    assert type(info.value).code == code


def test_unknown_code_is_still_an_allot_error():
    with pytest.raises(allot.AllotError) as info:
        _native.decode(b'{"error":{"code":"brand_new","message":"m"}}')
    assert info.value.code == "brand_new"


def test_builtin_exception_families():
    assert issubclass(allot.AllotTimeoutError, TimeoutError)
    assert issubclass(allot.NetworkError, ConnectionError)
    assert issubclass(allot.InvalidConfigError, ValueError)
    assert issubclass(allot.UnauthorizedError, PermissionError)


@pytest.fixture
def local_handle():
    handle = _native.init({"provider": "amplitude", "api_key": "k", "flags": [amplitude_flag("f")]})
    _native.start(handle, 0)
    yield handle
    _native.free(handle)


def _raises(code, fn, *args):
    with pytest.raises(allot.ERROR_CLASSES[code]) as info:
        fn(*args)
    assert info.value.code == code
    assert info.value.message
    return info.value


def test_library_errors_through_the_real_library(local_handle):
    _raises("invalid_argument", _native.evaluate, local_handle, {"user": {}, "no_such_field": 1})
    err = _raises("invalid_utf8", _native.evaluate, local_handle, b'{"user":{"user_id":"\xff"}}')
    assert "byte" in err.message or "offset" in err.message or "UTF-8" in err.message
    _raises("invalid_json", _native.evaluate, local_handle, b'{"user":')
    err = _raises("invalid_config", _native.init, {"provider": "amplitude", "api_key": "k", "flag_path": "x"})
    assert 'did you mean "flags_path"' in err.message
    _raises("input_too_large", _native.evaluate, local_handle, b'{"user":{"user_id":"' + b"x" * (1 << 20) + b'"}}')
    _raises("unsupported", _native.fetch, local_handle, {"user": {}})
    cycle = [dict(amplitude_flag("a"), dependencies=["b"]), dict(amplitude_flag("b"), dependencies=["a"])]
    err = _raises("dependency_cycle", _native.init, {"provider": "amplitude", "api_key": "k", "flags": cycle})
    assert "->" in err.message
    unstarted = _native.init({"provider": "amplitude", "api_key": "k", "flags": []})
    try:
        _raises("not_started", _native.evaluate, unstarted, {"user": {}})
    finally:
        _native.free(unstarted)
    _native.free(unstarted)  # idempotent
    _raises("unknown_handle", _native.evaluate, unstarted, {"user": {}})
    _raises("unknown_handle", _native.status, 0)


def test_invalid_argument_from_a_null_request(local_handle):
    # ctypes passes None as NULL: the library answers invalid_argument, never crashes.
    raw = _native.take(_native.lib.allot_evaluate(local_handle, None))
    with pytest.raises(allot.InvalidArgumentError):
        _native.decode(raw)


def test_client_level_errors_are_raised_with_codes():
    with pytest.raises(allot.InvalidConfigError) as info:
        Experiment.initialize_local("k", LocalEvaluationConfig(flags_path="/no/such/flags.json"))
    assert info.value.code == "invalid_config"
    client = Experiment.initialize_local("k2", LocalEvaluationConfig(flags=[amplitude_flag("f")]))
    assert client.evaluate_v2(User(user_id="u")) == {}  # as the SDK: nothing before start()
    client.start()
    client._handle.close()
    with pytest.raises(allot.UnknownHandleError):
        client.evaluate_v2(User(user_id="u"))


def _remote(server, key, **kw):
    # One retry: as the SDK, fetch_v2 raises only when retries are configured and all fail.
    kw.setdefault("fetch_retries", 1)
    kw.setdefault("fetch_retry_backoff_min_millis", 1)
    return Experiment.initialize_remote(key, RemoteEvaluationConfig(server_url=server.url, **kw))


def test_network_error_codes(flag_server):
    needs("remote")
    user = User(user_id="u")
    flag_server.behaviours.update(
        {"k401": "unauthorized", "k500": "status_500", "kbad": "garbage", "kslow": "slow", "k404": "status_404"}
    )
    assert _remote(flag_server, "k401").fetch_v2(user) is None  # the SDK: None for a first 4xx
    assert _remote(flag_server, "k404").fetch_v2(user) is None
    err = _raises("http_status", _remote(flag_server, "k500").fetch_v2, user)
    assert "500" in err.message and err.status_code == 500
    _raises("invalid_response", _remote(flag_server, "kbad").fetch_v2, user)
    _raises(
        "timeout",
        _remote(flag_server, "kslow", fetch_timeout_millis=200, fetch_retry_timeout_millis=200).fetch_v2,
        user,
    )
    closed = Experiment.initialize_remote(
        "kclosed", RemoteEvaluationConfig(server_url="http://127.0.0.1:9", fetch_retries=1)
    )
    _raises("network", closed.fetch_v2, user)
    no_retries = Experiment.initialize_remote("k500b", RemoteEvaluationConfig(server_url=flag_server.url))
    flag_server.behaviours["k500b"] = "status_500"
    assert no_retries.fetch_v2(user) == {}  # the SDK: {} for a retryable failure without retries
    for r in flag_server.requests:
        assert r["key"] in r["headers"].get("authorization", "")


def test_secret_never_in_errors(flag_server):
    needs("remote")
    flag_server.behaviours["super-secret-key"] = "status_500"
    err = _raises("http_status", _remote(flag_server, "super-secret-key").fetch_v2, User(user_id="u"))
    assert "super-secret-key" not in str(err)


def test_ctypes_releases_the_gil_for_native_calls():
    # ctypes.CDLL (not PyDLL) releases the GIL around every foreign call.
    assert not isinstance(_native.lib, ctypes.PyDLL)
