"""Ctrl-C on the long commands (`run`, `sweep`, `capacity`): exit code 130, and no process the
command started (brokers, the API and its workers, consumers, Jupyter kernels) outlives it.

Each command starts its own embedded broker (the one process most costly to leave behind) and is
interrupted the way a terminal does it: SIGINT to its whole process group, once its broker, API
and consumer run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from kafka_helpers import ProcessWatch, home_with_classpath, sigint_as_in_a_terminal

from harness.paths import PROJECT_ROOT

pytestmark = pytest.mark.kafka

# Long enough never to end by themselves before the interrupt. The run sends from 2 generators
# on a LocalCluster of its own (its Dask worker processes must go too); sweep and capacity keep
# the one in-process generator.
COMMANDS = {
    "run": ["run", "--events", "200000", "--rate", "300", "--warmup-s", "0",
            "--broker-warmup-s", "0", "--generators", "2"],
    "sweep": ["sweep", "--set", "events=200000", "--set", "rate=300", "--set", "warmup_s=0",
              "--set", "broker_warmup_s=0"],
    "capacity": ["capacity", "--p99-objective-ms", "250", "--broker-warmup-s", "0"],
}  # fmt: skip
RUNNING = ("kafka.Kafka", "app.producer", "app.consumer")
DASK_WORKER = "spawn_main"  # a LocalCluster's worker process (multiprocessing spawns it)


@pytest.mark.parametrize("command", COMMANDS)
def test_ctrl_c_exits_130_and_stops_everything_it_started(tmp_path, command):
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env["HARNESS_HOME"] = home_with_classpath(tmp_path / "home")
    cmd = [sys.executable, "-m", "harness", *COMMANDS[command], "--out", str(tmp_path / "out")]
    with ProcessWatch() as watch:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                preexec_fn=sigint_as_in_a_terminal)  # fmt: skip
        try:
            deadline = time.monotonic() + 180
            running = RUNNING + ((DASK_WORKER,) if "--generators" in cmd else ())
            while not all(any(word in c for c in watch.commands()) for word in running):
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, f"not running after 180 s: {watch.commands()}"
                time.sleep(0.2)
            time.sleep(2)  # the load has begun
            os.killpg(proc.pid, signal.SIGINT)
            output, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            survivors = watch.alive(grace_s=10)
            watch.kill_alive()  # nothing of a failed test stays on the machine
    assert proc.returncode == 130, (proc.returncode, output[-3000:])
    assert "interrupted" in output, output[-3000:]
    assert survivors == [], survivors
    if "--generators" in cmd:  # the harness stopped its workers: none of them was interrupted
        assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-3000:]
