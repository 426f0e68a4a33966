"""allot vs the vendors' Python SDKs, in one run on the same machine and the same flags.

* Amplitude: ``evaluate_v2(user)`` on ``conformance/amplitude/dependencies_fixture.json``
  (6 flags: all of them, target allot >= 30x faster than ``amplitude-experiment``'s local
  evaluation; one flag, target >= 25x) for the fixture's users, and on the 60-flag
  ``generated_corpus.json`` (one flag, and all flags) for its first 32 users.
* Eppo: ``get_string_assignment(flag, subject, attributes, default)`` on ``flags-v1.json``
  for every STRING subject of the shared suite, allot vs ``eppo-server-sdk``: with the
  subjects' attributes and without, with a do-nothing ``AssignmentLogger`` subclass and
  with the SDKs' default logger (targets: with attributes and the discarding logger, at
  most the vendor's time; without attributes, at most 2.5x).

Both SDKs load their flags from a flag server on 127.0.0.1 started here.
Run with ``make bench-python`` (a separate venv holds the vendors' packages).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
SHARED = Path(os.environ.get("ALLOT_SHARED_DIR", REPO.parent / "shared"))
ROUNDS = int(os.environ.get("ALLOT_BENCH_ROUNDS", "7"))


def serve(amplitude_flags: List[Any], ufc: bytes) -> Tuple[ThreadingHTTPServer, str]:
    amp = json.dumps(amplitude_flags).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = amp if self.path.startswith("/sdk/v2/flags") else ufc
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def per_call(ours: Callable[[], int], theirs: Callable[[], int]) -> Tuple[float, float]:
    """Medians over ROUNDS rounds of the time per call, in microseconds, of both SDKs;
    the rounds alternate, so that a change in the machine's load hits both alike."""
    ours()  # warm up
    theirs()
    samples: Tuple[List[float], List[float]] = ([], [])
    for _ in range(ROUNDS):
        for fn, out in zip((ours, theirs), samples):
            start = time.perf_counter()
            calls = fn()
            out.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(samples[0]), statistics.median(samples[1])


def bench_amplitude(
    url: str, fixture: Dict[str, Any], flag_keys: Any = None, max_users: int = 1000, exact: bool = True
) -> Tuple[float, float]:
    import amplitude_experiment as amp

    import allot.amplitude as allot_amp

    users = [c["user"] for c in fixture["cases"][:max_users]]
    # The SDK warns on every evaluation of a cohort flag without cohort syncing: a quiet
    # logger keeps stderr writes out of its time.
    quiet = logging.getLogger("bench.quiet")
    quiet.setLevel(logging.CRITICAL)
    theirs = amp.LocalEvaluationClient("bench-key", amp.LocalEvaluationConfig(server_url=url, logger=quiet))
    theirs.start()
    try:
        ours = allot_amp.LocalEvaluationClient("bench-key", allot_amp.LocalEvaluationConfig(server_url=url))
        ours.start()
    except allot_amp.AllotError as e:  # a liballot without the networked client: same flags, inline
        print(f"(allot loads the flags inline: {e.code})")
        ours = allot_amp.LocalEvaluationClient("bench-key", allot_amp.LocalEvaluationConfig(flags=fixture["flags"]))
        ours.start()
    their_users = [amp.User(**u) for u in users]
    our_users = [allot_amp.User(**u) for u in users]
    # Same flags evaluated before timing anything, and on the fixture the same variants.
    # The generated corpus holds cases where amplitude-experiment's Python engine differs
    # from Amplitude's JavaScript engine, which allot follows (cohort conditions without
    # cohort syncing, some regex edge cases): those are counted, not asserted.
    differing = 0
    for tu, ou in zip(their_users, our_users):
        t = {k: v.key for k, v in theirs.evaluate_v2(tu, flag_keys).items()}
        o = {k: v.key for k, v in ours.evaluate_v2(ou, flag_keys).items()}
        assert t.keys() == o.keys(), f"flags differ: {sorted(t)} vs {sorted(o)}"
        assert t == o or not exact, f"results differ: {t} vs {o}"
        differing += sum(t[k] != o[k] for k in t)
    if differing:
        print(f"({differing} of the variants differ between the engines: see bench.py)")

    def run(client: Any, us: List[Any], reps: int) -> Callable[[], int]:
        def go() -> int:
            for _ in range(reps):
                for u in us:
                    client.evaluate_v2(u, flag_keys)
            return reps * len(us)

        return go

    # A few hundred calls per round of the vendor's SDK, tens of thousands of allot's.
    our_us, their_us = per_call(
        run(ours, our_users, max(1, 20000 // len(users))), run(theirs, their_users, max(1, 800 // len(users)))
    )
    theirs.stop()
    ours.stop()
    return our_us, their_us


def bench_eppo(url: str, ufc: bytes, quiet_logger: bool = True, attributes: bool = True) -> Tuple[float, float, int]:
    import eppo_client
    from eppo_client.assignment_logger import AssignmentLogger
    from eppo_client.config import Config

    import allot.eppo as allot_eppo
    from allot.eppo.config import Config as AllotConfig
    from allot.eppo.config import Configuration as AllotConfiguration

    class Quiet(AssignmentLogger):
        def log_assignment(self, assignment_event: Dict[str, Any]) -> None:
            pass

    class AllotQuiet(allot_eppo.AssignmentLogger):
        def log_assignment(self, assignment_event: Dict[str, Any]) -> None:
            pass

    cases = []
    for path in sorted((SHARED / "conformance" / "eppo" / "tests").glob("*.json")):
        case = json.loads(path.read_text())
        if case["variationType"] == "STRING":
            for s in case["subjects"]:
                attrs = s["subjectAttributes"] if attributes else {}
                cases.append((case["flag"], s["subjectKey"], attrs, case["defaultValue"]))

    their_logger = Quiet() if quiet_logger else AssignmentLogger()
    our_logger = AllotQuiet() if quiet_logger else allot_eppo.AssignmentLogger()
    eppo_client.init(Config(api_key="bench-key", base_url=url, assignment_logger=their_logger))
    theirs = eppo_client.get_instance()
    theirs.wait_for_initialization()
    ours = allot_eppo.init(
        AllotConfig(
            api_key="bench-key",
            base_url=url,
            assignment_logger=our_logger,
            initial_configuration=AllotConfiguration(flags_configuration=ufc),
        )
    )
    ours.wait_for_initialization(timeout=10)
    for c in cases:
        assert theirs.get_string_assignment(*c) == ours.get_string_assignment(*c), c

    def run(client: Any, reps: int) -> Callable[[], int]:
        get = client.get_string_assignment

        def go() -> int:
            for _ in range(reps):
                for flag, subject, attrs, default in cases:
                    get(flag, subject, attrs, default)
            return reps * len(cases)

        return go

    our_us, their_us = per_call(run(ours, 200), run(theirs, 200))
    ours.shutdown()
    return our_us, their_us, len(cases)


def report(title: str, ours: float, vendor: str, theirs: float, target: str = "") -> None:
    """Prints one scenario: both times and allot's speed-up."""
    print(title)
    print(f"  allot {ours:9.2f} us/call   {vendor} {theirs:9.2f} us/call")
    print(f"  ratio: allot is {theirs / ours:.1f}x faster{target}\n")


def report_eppo(title: str, ours: float, theirs: float, target: str = "") -> None:
    """Prints one Eppo scenario: both times and allot's share of the vendor's time."""
    print(title)
    print(f"  allot {ours:9.2f} us/call   eppo-server-sdk {theirs:9.2f} us/call")
    print(f"  ratio: allot takes {ours / theirs:.2f}x the vendor's time{target}\n")


def main() -> int:
    import allot

    fixture = json.loads((SHARED / "conformance" / "amplitude" / "dependencies_fixture.json").read_text())
    corpus = json.loads((SHARED / "conformance" / "amplitude" / "generated_corpus.json").read_text())
    ufc = (SHARED / "conformance" / "eppo" / "flags-v1.json").read_bytes()
    httpd, url = serve(fixture["flags"], ufc)
    corpus_httpd, corpus_url = serve(corpus["flags"], ufc)
    print(f"allot {allot.__version__} (liballot {allot.native_version()} at {allot.library_path})")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {ROUNDS} alternating rounds\n")

    vendor = "amplitude-experiment"
    ours, theirs = bench_amplitude(url, fixture)
    report(
        f"Amplitude evaluate_v2, all {len(fixture['flags'])} flags of dependencies_fixture.json:",
        ours,
        vendor,
        theirs,
        " (target >= 30x)",
    )
    one = [fixture["flags"][0]["key"]]
    ours, theirs = bench_amplitude(url, fixture, one)
    report(
        f"Amplitude evaluate_v2, one flag ({one[0]}) of dependencies_fixture.json:",
        ours,
        vendor,
        theirs,
        " (target >= 25x)",
    )
    corpus_one = [corpus["flags"][0]["key"]]
    ours, theirs = bench_amplitude(corpus_url, corpus, corpus_one, max_users=32, exact=False)
    report(
        f"Amplitude evaluate_v2, one flag ({corpus_one[0]}) of the 60-flag generated_corpus.json:", ours, vendor, theirs
    )
    ours, theirs = bench_amplitude(corpus_url, corpus, max_users=32, exact=False)
    report(f"Amplitude evaluate_v2, all {len(corpus['flags'])} flags of generated_corpus.json:", ours, vendor, theirs)
    corpus_httpd.shutdown()

    for attributes in (True, False):
        for logger_kind, quiet in (("a discarding logger", True), ("the default logger (allot skips events)", False)):
            try:
                ours, theirs, n = bench_eppo(url, ufc, quiet_logger=quiet, attributes=attributes)
            except allot.AllotError as e:
                print(f"Eppo: skipped, this liballot cannot run it ({e})")
                return 0
            target = ""
            if quiet:
                target = " (target <= 1.0x)" if attributes else " (target <= 2.5x)"
            subjects = "with" if attributes else "without"
            report_eppo(
                f"Eppo get_string_assignment, {n} STRING subjects {subjects} attributes, {logger_kind}:",
                ours,
                theirs,
                target,
            )
    httpd.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
