"""harness.services: the API and the consumer as managed processes, ready-waiting and stopping."""

from __future__ import annotations

import socket
import time
import uuid

import orjson
import pytest
from api_helpers import post

from app.settings import ProducerSettings
from harness.processes import pid_alive
from harness.services import ApiService, ConsumerService, ServiceStartError, _child_env


def read_logged_events(path) -> list[dict]:
    if not path.exists():
        return []
    return [orjson.loads(line.split(" - ", 1)[1]) for line in path.read_text().splitlines()]


@pytest.mark.kafka
def test_api_to_consumer_log_end_to_end(kafka, new_topic, tmp_path):
    topic = new_topic(3)
    settings = ProducerSettings(bootstrap_servers=kafka.bootstrap_servers, topic=topic)
    log_file = tmp_path / "logs" / "events.log"
    consumer = ConsumerService(
        kafka.bootstrap_servers,
        topic,
        f"g-{uuid.uuid4().hex[:6]}",
        log_file,
        output_path=tmp_path / "consumer.out",
    )
    with consumer, ApiService(settings, tmp_path / "api.log") as api:
        assert consumer.process.running() and api.process.running()
        ids = [
            post(api.url + "/register_event", {"event": "e", "user_id": i})[1]["event_id"]
            for i in range(20)
        ]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            logged = {e["event_id"] for e in read_logged_events(log_file)}
            if set(ids) <= logged:
                break
            time.sleep(0.2)
        assert set(ids) <= logged
        api_pid, consumer_pid = api.pid, consumer.pid
    # Leaving the blocks stopped both processes.
    assert not pid_alive(api_pid) and not pid_alive(consumer_pid)


def test_api_that_cannot_bind_fails_fast_with_its_log(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        api = ApiService(
            ProducerSettings(delivery="noop"), tmp_path / "api.log", port=port, ready_timeout=30
        )
        started = time.monotonic()
        with pytest.raises(ServiceStartError, match="exited"):
            api.start()
        assert time.monotonic() - started < 25
        assert not api.process.running()


def test_werkzeug_api_in_noop_mode_needs_no_kafka(tmp_path):
    with ApiService(
        ProducerSettings(delivery="noop"), tmp_path / "api.log", server="werkzeug"
    ) as api:
        status, body = post(api.url + "/register_event", {"event": "x"})
        assert status == 202 and body["status"] == "accepted"


def test_consumer_that_exits_is_reported_with_its_output(tmp_path):
    consumer = ConsumerService(
        "127.0.0.1:1",
        "t",
        "g",
        tmp_path / "events.log",
        output_path=tmp_path / "consumer.out",
        client="no-such-client",
        ready_timeout=30,
    )
    with pytest.raises(ServiceStartError, match="exited"):
        consumer.start()


def test_child_env_takes_settings_only_from_the_run(monkeypatch):
    monkeypatch.setenv("DELIVERY_MODE", "noop")
    monkeypatch.setenv("API_KEY", "leaked")
    monkeypatch.setenv("UNRELATED", "kept")
    env = _child_env(ProducerSettings(delivery="async").to_env())
    assert env["DELIVERY_MODE"] == "async" and "API_KEY" not in env
    assert env["UNRELATED"] == "kept"


def _updown(args: list[str]) -> int:
    import argparse

    from harness import updown

    parser = argparse.ArgumentParser()
    updown.add_parsers(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args(args)
    return parsed.func(parsed)


@pytest.mark.kafka
def test_up_and_down_on_an_external_cluster(kafka, tmp_path, monkeypatch, capsys):
    from harness import updown
    from harness.ports import free_port

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / ".harness"))
    topic = f"up-{uuid.uuid4().hex[:8]}"
    port = free_port()
    args = [
        "up",
        "--port",
        str(port),
        "--bootstrap-servers",
        kafka.bootstrap_servers,
        "--topic",
        topic,
        "--workers",
        "1",
        "--worker-threads",
        "4",
    ]
    try:
        assert _updown(args) == 0
        url = capsys.readouterr().out.strip()
        assert url == f"http://127.0.0.1:{port}"
        state = updown.read_up_state()
        assert state["kafka"]["started_by_up"] is False
        # A second `up` refuses and points at the running one.
        assert _updown(args) == 1
        ids = [
            post(url + "/register_event", {"event": "e", "n": i})[1]["event_id"] for i in range(10)
        ]
    finally:
        assert _updown(["down"]) == 0
    # down stopped the API first and let the consumer catch up before stopping it.
    logged = {e["event_id"] for e in read_logged_events(tmp_path / "logs" / "events.log")}
    assert set(ids) <= logged
    assert not pid_alive(state["api"]["pid"]) and not pid_alive(state["consumer"]["pid"])
    assert updown.read_up_state() is None
    assert _updown(["down"]) == 0  # nothing up: a no-op
