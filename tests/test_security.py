"""Security defaults: loopback binding, the API key, secrets kept out of logs and results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from app.producer import build_parser
from app.settings import KafkaSecurity, ProducerSettings
from harness.kafka import EmbeddedKafka
from harness.paths import PROJECT_ROOT
from harness.services import ApiService

API_KEY = "sekret-api-key-7f3a"
SASL_PASSWORD = "sekret-sasl-pw-91c2"


def test_api_and_broker_bind_loopback_by_default(tmp_path):
    assert build_parser().parse_args([]).host == "127.0.0.1"
    kafka = EmbeddedKafka(root=tmp_path)
    props = kafka._server_properties(kafka.nodes[0])
    assert "listeners=PLAINTEXT://127.0.0.1:" in props
    assert "CONTROLLER://127.0.0.1:" in props


def _post(url: str, body: bytes, key: str | None) -> int:
    headers = {"Content-Type": "application/json", **({"X-API-Key": key} if key else {})}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.kafka
def test_api_key_is_required_and_no_secret_reaches_the_logs(kafka, new_topic, tmp_path):
    settings = ProducerSettings(bootstrap_servers=kafka.bootstrap_servers, topic=new_topic(),
                                api_key=API_KEY,
                                security=KafkaSecurity(sasl_password=SASL_PASSWORD))  # fmt: skip
    log = tmp_path / "api.log"
    with ApiService(settings, log) as api:
        event = json.dumps({"event": "signup", "user_id": 1}).encode()
        assert _post(api.url + "/register_event", event, None) == 401
        assert _post(api.url + "/register_event", event, "wrong") == 401
        assert _post(api.url + "/register_event", event, API_KEY) == 202
        with urllib.request.urlopen(api.url + "/healthz", timeout=10) as resp:
            assert resp.status == 200  # health and the spec stay open
    text = log.read_text()
    assert "settings" in text  # the API logs its settings at start ...
    assert API_KEY not in text and SASL_PASSWORD not in text  # ... without the secrets


@pytest.mark.kafka
def test_no_secret_reaches_the_run_parameters_metrics_or_any_file_of_a_run(kafka, tmp_path):
    """`harness run` with an API key and a SASL password in its environment (the variables the
    API and the consumer read): no file of the run directory holds either."""
    env = {**os.environ, "API_KEY": API_KEY, "KAFKA_SASL_PASSWORD": SASL_PASSWORD}
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--events", "200", "--threads", "5",
         "--warmup-s", "0", "--bootstrap-servers", kafka.bootstrap_servers,
         "--out", str(out), "--quiet"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"config.json", "metrics.json", "api.log"} <= {p.name for p in files}
    for path in files:
        data = path.read_bytes()
        assert API_KEY.encode() not in data and SASL_PASSWORD.encode() not in data, path
    assert (
        API_KEY not in done.stdout + done.stderr and SASL_PASSWORD not in done.stdout + done.stderr
    )
