"""A cluster of someone else's, as the harness must treat it: its security settings reach every
client of a run, the topic a run creates there is deleted afterwards, and an API key never lands in
a file. Real brokers throughout: one that requires SASL/PLAIN logins, and the session's broker named
by KAFKA_BOOTSTRAP_SERVERS (to the harness, an external cluster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import admin
from harness.kafka import EmbeddedKafka
from harness.ports import free_port

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[1]
USER, PASSWORD = "bench", "s3cr3t-sasl-pw"


def _harness(*args: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def _topics(bootstrap: str, **config) -> set[str]:
    client = admin.admin_client(bootstrap, **config)
    try:
        return set(client.list_topics())
    finally:
        client.close()


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory):
    """A broker whose clients must log in (SASL_PLAINTEXT, PLAIN); its controller stays plain."""
    kafka = EmbeddedKafka(root=tmp_path_factory.mktemp("sasl"))
    node = kafka.nodes[0]
    jaas = (f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{USER}" '
            f'password="{PASSWORD}" user_{USER}="{PASSWORD}";')  # fmt: skip
    kafka.broker_config.update({
        "listeners": f"SASL_PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{node.port}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas,
    })  # fmt: skip
    kafka.wait_ready = lambda *a, **k: _wait_sasl_ready(kafka)  # its readiness probe logs in
    with kafka:
        yield kafka


def _wait_sasl_ready(kafka: EmbeddedKafka, timeout: float = 90.0) -> None:
    import time

    from kafka.admin import KafkaAdminClient

    deadline = time.monotonic() + timeout
    while True:
        try:
            client = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers,
                                      security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                                      sasl_plain_username=USER, sasl_plain_password=PASSWORD,
                                      request_timeout_ms=3000)  # fmt: skip
            client.close()
            return
        except Exception:
            if time.monotonic() > deadline or not kafka.node_running(1):
                raise
            time.sleep(0.5)


SASL_ENV = {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN",
            "KAFKA_SASL_USERNAME": USER, "KAFKA_SASL_PASSWORD": PASSWORD}  # fmt: skip


@pytest.mark.parametrize("audit", ["log", "topic"])
def test_every_client_of_a_run_logs_in_to_a_cluster_that_requires_it(sasl_broker, tmp_path, audit):
    """The API and consumer the harness starts, its topic admin (create, delete) and its topic
    audit: without the settings none of them gets in (the run fails), with them every event is
    accounted for and the run's topic is gone afterwards."""
    env = {"KAFKA_BOOTSTRAP_SERVERS": sasl_broker.bootstrap_servers, **SASL_ENV}
    out = _harness("run", "--events", "600", "--threads", "20", "--audit", audit, "--quiet",
                   "--drain-timeout-s", "20", "--out", str(tmp_path / "run"), env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["counts"]["unique_consumed"] == 600 and metrics["counts"]["lost"] == 0
    if audit == "topic":
        assert metrics["run"]["topic_audit"]["drained"] is True
    login = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
             "sasl_plain_username": USER, "sasl_plain_password": PASSWORD}  # fmt: skip
    assert metrics["run"]["topic"] not in _topics(sasl_broker.bootstrap_servers, **login)
    for path in (tmp_path / "run").rglob("*"):  # the password is in no file of the run
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_the_broker_really_requires_the_login(sasl_broker):
    """Without the settings a client gets nowhere: the test above proves something."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    with pytest.raises(KafkaError):
        KafkaAdminClient(bootstrap_servers=sasl_broker.bootstrap_servers, request_timeout_ms=3000,
                         api_version_auto_timeout_ms=3000)  # fmt: skip


def test_a_run_deletes_the_topic_it_made_on_an_external_cluster_unless_told(kafka, tmp_path):
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers}
    topics = {}
    for name, extra in (("deleted", ()), ("kept", ("--keep-topic",))):
        out = _harness("run", "--events", "300", "--threads", "10", "--quiet", *extra,
                       "--out", str(tmp_path / name), env=env)  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        topics[name] = json.loads((tmp_path / name / "config.json").read_text())["topic"]
    present = _topics(kafka.bootstrap_servers)
    assert topics["deleted"] not in present and topics["kept"] in present
    admin.delete_topic(kafka.bootstrap_servers, topics["kept"])


def test_an_api_key_is_sent_and_never_written_to_a_file(kafka, tmp_path):
    """The API the harness starts requires the key; the simulator sends it (every event 202);
    config.json, metrics.json, the tables, sweep.json and the executed notebooks say only that a
    key was set."""
    key = "k3y-0f-the-test-7c1d"
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers}
    out = _harness("run", "--events", "300", "--threads", "10", "--quiet", "--api-key", key,
                   "--out", str(tmp_path / "run"), env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["counts"]["accepted"] == 300 and metrics["config"]["api_key"] == "(set)"
    sweep = _harness("sweep", "--set", "events=300", "--set", "threads=10",
                     "--out", str(tmp_path / "sweep"), env={**env, "HARNESS_API_KEY": key})  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    summary = (tmp_path / "sweep" / "summary.csv").read_text()
    assert "(set)" in summary
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".csv", ".ipynb", ".html", ".log", ".out"):
            assert key.encode() not in path.read_bytes(), path


def test_a_deployed_api_that_requires_a_key_gets_it_from_the_environment(kafka, tmp_path):
    """`harness up` with API_KEY set requires it; a run driving that API with HARNESS_API_KEY is
    accepted, one with a wrong key gets 401 for every event (rejected, nothing lost)."""
    key, port = "d3pl0yed-key", free_port()
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "HARNESS_HOME": str(tmp_path)}
    up = subprocess.run([sys.executable, "-m", "harness", "up", "--port", str(port)], cwd=tmp_path,
                        env={**os.environ, **env, "API_KEY": key}, capture_output=True, text=True,
                        timeout=180)  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr[-2000:]
        counts = {}
        for name, given in (("right", key), ("wrong", "not-the-key")):
            out = _harness("run", "--api-url", f"http://127.0.0.1:{port}", "--events", "200",
                           "--threads", "10", "--quiet", "--drain-timeout-s", "10",
                           "--out", str(tmp_path / name),
                           env={**env, "HARNESS_API_KEY": given})  # fmt: skip
            assert out.returncode == 0, out.stderr[-2000:]
            counts[name] = json.loads((tmp_path / name / "metrics.json").read_text())["counts"]
        assert counts["right"]["accepted"] == 200 and counts["right"]["lost"] == 0
        assert counts["wrong"]["accepted"] == 0 and counts["wrong"]["rejected"] == 200
    finally:
        subprocess.run([sys.executable, "-m", "harness", "down"], cwd=tmp_path,
                       env={**os.environ, **env}, capture_output=True, timeout=120)  # fmt: skip
