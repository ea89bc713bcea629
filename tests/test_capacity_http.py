"""The capacity search against a real HTTP server of known capacity (tests/capacity_app.py: at most
N requests/s by construction), through the HTTP-only step runner; and the command's bad inputs.

Parameters for a noisy 2-core machine: the objective is generous (500 ms, so the generator's
jitter, bounded at 20% of it, does not pass for a late generator) and the knee is found by the
rate criterion, which does not depend on the machine's speed: above N the server answers N/s.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kafka_helpers import sigint_as_in_a_terminal

from harness.capacity import HttpSteps, Objective, SearchSettings, read_capacity, search_capacity
from harness.capacity.criteria import GENERATOR, LATENCY, RATE
from harness.capacity.steps import settle
from harness.cli import main
from harness.params import RunConfig
from harness.ports import free_port
from harness.processes import ManagedProcess
from harness.rundir import LogCounter
from harness.services import http_get

# Beside quiet tests only under xdist (conftest.py): the generator's rate and lateness are judged.
pytestmark = pytest.mark.quiet

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "tests" / "capacity_app.py"
STEPS = {"step_s": 2.5, "probe_s": 1.5}  # each step: 0.5 s warm-up + 2.5 s measured
CFG = RunConfig(warmup_s=0.5)


@pytest.fixture
def known_capacity_api(tmp_path):
    """Factory: `start(rate) -> url` of tests/capacity_app.py admitting `rate` requests/s."""
    with_processes = []

    def start(rate: float) -> str:
        port = free_port()
        proc = ManagedProcess("capacity-app", [sys.executable, str(APP), "--port", str(port),
                              "--rate", str(rate)], tmp_path / f"app-{port}.log")  # fmt: skip
        with_processes.append(proc.start())
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while http_get(url + "/healthz", timeout=1)[0] != 200:
            assert proc.running() and time.monotonic() < deadline, proc.log_tail()
            time.sleep(0.05)
        return url

    yield start
    for proc in with_processes:
        proc.stop()


def test_finds_a_known_capacity_within_ten_percent(known_capacity_api, tmp_path):
    capacity = 300.0
    url = known_capacity_api(capacity)
    out = tmp_path / "search"
    result = search_capacity(CFG, out, Objective(p99_ms=500), SearchSettings(precision=0.08,
                             max_steps=8), runner=HttpSteps(url), progress=False, **STEPS)  # fmt: skip
    assert result["result"] == "found", result["summary"]
    assert abs(result["capacity_eps"] - capacity) <= 0.10 * capacity, result["summary"]
    assert result["reason"] in (LATENCY, RATE) and result["confirmed"]
    # capacity.json on disk is the returned dict; every step's run directory is kept.
    assert read_capacity(out) == json.loads(json.dumps(result))
    assert result["probe"]["estimate_eps"] == pytest.approx(capacity, rel=0.1)
    for step in result["steps"]:
        assert (out / step["run_dir"] / "metrics.json").exists()
        assert step["lost"] is None  # HTTP-only: nothing consumed, loss not accounted
    failing = result["failing_step"]
    assert failing["rate_eps"] > result["capacity_eps"] and failing["verdict"] == "unsustainable"


def test_a_limited_generator_reports_at_least_never_a_capacity(known_capacity_api, tmp_path):
    # The server takes 2000 requests/s; the generator, with one connection and one request in
    # flight, sends a request only when the last one answered: a few hundred a second at best.
    url = known_capacity_api(2000)
    cfg = RunConfig(warmup_s=0.5, threads=1)
    result = search_capacity(cfg, tmp_path / "search", Objective(p99_ms=500), SearchSettings(
        max_steps=8), runner=HttpSteps(url, {"max_in_flight": 1}), progress=False, **STEPS)  # fmt: skip
    assert result["result"] == "at_least" and result["reason"] == GENERATOR, result["summary"]
    assert result["capacity_eps"] is None
    assert result["bound_eps"] and result["bound_eps"] < 2000
    assert "generator-bound" in result["summary"] and "at least" in result["summary"]
    assert result["steps"][-1]["verdict"] == "generator-bound"


def test_slos_are_criteria_of_every_step(known_capacity_api, tmp_path):
    url = known_capacity_api(1000)
    never = "latency_ms.http.p50 < 0.001"  # no HTTP answer is that fast
    result = search_capacity(RunConfig(warmup_s=0.5, rate=50), tmp_path / "search",
                             Objective(p99_ms=500), SearchSettings(max_descents=1),
                             runner=HttpSteps(url, slos=[never]), progress=False, step_s=1.0)  # fmt: skip
    assert result["result"] == "below" and result["reason"] == "slo", result["summary"]
    assert never in result["steps"][0]["reasons"][0]


def test_a_dead_system_is_below_the_first_rate_with_the_reason_and_no_crash(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: every request fails
    result = search_capacity(RunConfig(warmup_s=0.5, rate=50), tmp_path / "search",
                             Objective(p99_ms=500), SearchSettings(max_descents=1),
                             runner=HttpSteps(url), progress=False, step_s=1.0)  # fmt: skip
    assert result["result"] == "below" and result["capacity_eps"] is None
    assert result["reason"] == "errors" and result["bound_eps"] == 18  # 0.7 x 50, then half
    assert "below 18 events/s" in result["summary"] and len(result["steps"]) == 2


@pytest.mark.parametrize(
    "args, words",
    [
        (["--p99-objective-ms", "0"], "p99 objective must be a number of milliseconds > 0"),
        (["--p99-objective-ms", "-3"], "p99 objective must be a number of milliseconds > 0"),
        (
            ["--p99-objective-ms", "250", "--precision", "1"],
            "precision is a relative gap in (0, 1)",
        ),
        (
            ["--p99-objective-ms", "250", "--precision", "0"],
            "precision is a relative gap in (0, 1)",
        ),
        (["--p99-objective-ms", "250", "--max-steps", "1"], "max_steps must be an integer >= 2"),
        (["--p99-objective-ms", "250", "--step-s", "0"], "--step-s must be > 0"),
        (["--p99-objective-ms", "250", "--acks", "most"], "invalid choice"),
        (["--p99-objective-ms", "250", "--slo", "p99 fast"], "SLO 'p99 fast' is not KEY OP NUMBER"),
    ],
)
def test_bad_inputs_are_clear_errors_before_anything_starts(tmp_path, capsys, args, words):
    out = tmp_path / "never"
    try:
        code = main(["capacity", *args, "--out", str(out)])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert words in err and "Traceback" not in err
    assert not out.exists()  # nothing started, nothing written


SEARCH_SCRIPT = """
import sys
from harness.capacity import HttpSteps, Objective, SearchSettings, search_capacity
from harness.params import RunConfig
search_capacity(RunConfig(warmup_s=0.5, rate=100), sys.argv[2], Objective(p99_ms=500),
                SearchSettings(max_steps=20), runner=HttpSteps(sys.argv[1]), step_s=1.0)
"""


def test_ctrl_c_stops_the_search_and_keeps_the_steps_measured(known_capacity_api, tmp_path):
    url, out = known_capacity_api(1000), tmp_path / "search"
    proc = subprocess.Popen([sys.executable, "-c", SEARCH_SCRIPT, url, str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=sigint_as_in_a_terminal)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (out / "capacity.json").exists() or len(read_capacity(out)["steps"]) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    result = read_capacity(out)
    assert result["interrupted"] and result["stopped_by"] == "interrupted", output
    assert len(result["steps"]) >= 2 and "[capacity] step 2/20" in output
    assert all((out / s["run_dir"] / "metrics.json").exists() for s in result["steps"])


def test_settle_waits_for_the_logs_to_stop_growing_and_the_api_to_answer(
    known_capacity_api, tmp_path
):
    url, log = known_capacity_api(1000), tmp_path / "events.log"
    log.write_text("")

    def consume_late_events():  # a consumer still logging what an overloaded step left behind
        for _ in range(12):
            with open(log, "a") as fh:
                fh.write("{}\n")
            time.sleep(0.1)

    writer = threading.Thread(target=consume_late_events)
    writer.start()
    settled = settle(LogCounter([log]), url, quiet_s=0.5, timeout_s=10)
    writer.join()
    assert settled["quiet"] and 1.1 <= settled["waited_s"] < 5
    dead = settle(LogCounter([log]), f"http://127.0.0.1:{free_port()}", quiet_s=0.2, timeout_s=1)
    assert not dead["quiet"] and dead["waited_s"] >= 1
