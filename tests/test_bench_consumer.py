"""benchmarks/bench_consumer.py's measured child against the real broker: it runs the consumer's
own loop (app.consumer), so a change to that loop's interface must keep the benchmark working."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from kafka_helpers import produce

from harness.paths import PROJECT_ROOT


@pytest.mark.kafka
@pytest.mark.parametrize("mode", ["bare", "writer"])
def test_the_consumer_benchmark_measures_every_event(kafka, new_topic, tmp_path, mode):
    topic, n = new_topic(3), 3000
    produce(kafka.bootstrap_servers, topic, [b'{"event": "purchase", "user_id": 1}'] * n)
    cmd = [sys.executable, str(PROJECT_ROOT / "benchmarks" / "bench_consumer.py"),
           "--child", mode, "--bootstrap-servers", kafka.bootstrap_servers, "--topic", topic,
           "--client", "confluent-kafka", "--events", str(n), "--tmp", str(tmp_path)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["n"] == n and result["rate"] > 0 and result["cpu_us"] > 0, result
