"""Start the system under test, the producer API and its consumers, as `ManagedProcess`es.

    with ApiService(settings, log_path=run_dir / "api.log") as api:       # ready: /healthz is 200
        with ConsumerService(bootstrap, topic, group, run_dir / "events.log",
                             output_path=run_dir / "consumer.out") as consumer:  # ready: "consumer ready"
            ... api.url ...

Both stop with SIGTERM, then SIGKILL after a timeout (the API's graceful shutdown, on every server,
flushes each worker's producer; the consumer commits what it wrote). Settings reach the child through the
environment, with every variable of app/settings.py set or removed, so a stray variable in the
harness's own environment cannot change a run.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from app.settings import DEFAULT_CLIENT, DEFAULT_SERVER, ENV_VARS, KafkaSecurity, ProducerSettings
from harness.cluster import without_security
from harness.ports import free_port
from harness.processes import ManagedProcess, tail


class ServiceStartError(RuntimeError):
    """A service exited or did not become ready; the message carries the tail of its log."""


def _child_env(settings_env: dict[str, str]) -> dict[str, str]:
    """The API's environment: the harness's own, but producer settings only from the run."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update(settings_env)
    env["PYTHONUNBUFFERED"] = "1"  # log lines reach the file at once
    return env


API_ENTRY = ("-m", "app.producer")


def api_command(
    settings: ProducerSettings,
    port: int,
    host: str = "127.0.0.1",
    server: str = DEFAULT_SERVER,
    workers: int | None = None,
    worker_threads: int | None = None,
    backpressure: int | None = None,
    python: str = sys.executable,
    entry: Sequence[str] = API_ENTRY,
) -> list[str]:
    """The command line of the API; the producer settings themselves travel in the environment.

    `workers` and `worker_threads` left None are the API's own defaults (app/flags.py). `entry`
    is what Python runs: the API, or a benchmark's variant that takes the same flags.
    """
    cmd = [python, *entry, "--host", host, "--port", str(port), "--server", server]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if worker_threads is not None:
        cmd += ["--worker-threads", str(worker_threads)]
    if backpressure is not None:
        cmd += ["--backpressure", str(backpressure)]
    return cmd


def http_get(url: str, timeout: float) -> tuple[int, bytes]:
    """(status, body) of a GET; status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


class _Service:
    """What both services share: one ManagedProcess, started then waited for, always stopped."""

    process: ManagedProcess

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def wait_ready(self, timeout: float | None = None) -> None:
        raise NotImplementedError

    def _start_process(self, wait: bool):
        self.process.start()
        if wait:
            try:
                self.wait_ready()
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self, timeout: float | None = None) -> int | None:
        return self.process.stop(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @contextmanager
    def starting(self) -> Iterator:
        """Starts without waiting until ready (several services start in parallel; call
        wait_ready() later); stops on exit."""
        self.start(wait=False)
        try:
            yield self
        finally:
            self.stop()


class ApiService(_Service):
    """The producer API (any of SERVERS) on 127.0.0.1; ready when GET /healthz answers 200."""

    def __init__(
        self,
        settings: ProducerSettings,
        log_path: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        server: str = DEFAULT_SERVER,
        workers: int | None = None,
        worker_threads: int | None = None,
        backpressure: int | None = None,
        ready_timeout: float = 60.0,
        stop_timeout: float | None = None,
        detached: bool = False,
        cwd: Path | None = None,
        entry: Sequence[str] = API_ENTRY,
    ) -> None:
        self.settings = settings
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.server = server
        self.ready_timeout = ready_timeout
        # The servers give in-flight requests up to twice the delivery timeout before their
        # workers flush: SIGKILL must not come before that.
        if stop_timeout is None:
            stop_timeout = settings.delivery_timeout_s * 3 + 10
        cmd = api_command(settings, self.port, host, server, workers, worker_threads,
                          backpressure, entry=entry)  # fmt: skip
        self.process = ManagedProcess(
            "api",
            cmd,
            log_path,
            env=_child_env(settings.to_env()),
            cwd=cwd,
            detached=detached,
            stop_timeout=stop_timeout,
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def kill(self) -> int | None:
        """SIGKILL the server and its workers (fault injection: a crash); returns the exit code."""
        return self.process.kill()

    def start(self, wait: bool = True) -> ApiService:
        return self._start_process(wait)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Until /healthz is 200 (the API serves and reaches Kafka)."""
        deadline = time.monotonic() + (self.ready_timeout if timeout is None else timeout)
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.process.running():
                raise ServiceStartError(
                    f"the API exited with code {self.process.returncode()}:\n"
                    + self.process.log_tail()
                )
            status, body = http_get(self.url + "/healthz", timeout=2)
            if status == 200:
                return
            if status:
                last = f"{status} {body[:200].decode('utf-8', 'replace')}"
            time.sleep(0.1)
        raise ServiceStartError(
            f"the API at {self.url} was not ready within the timeout (last: {last}):\n"
            + self.process.log_tail()
        )


READY_LINE = "consumer ready"


class ConsumerService(_Service):
    """One `python -m app.consumer` process; ready when its output says `consumer ready`."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        log_file: Path,
        output_path: Path,
        client: str = DEFAULT_CLIENT,
        ready_timeout: float = 60.0,
        stop_timeout: float = 20.0,
        detached: bool = False,
        cwd: Path | None = None,
        extra_env: dict[str, str] | None = None,
        python: str = sys.executable,
        security: KafkaSecurity | None = None,
    ) -> None:
        self.log_file = Path(log_file)
        self.output_path = Path(output_path)
        self.ready_timeout = ready_timeout
        cmd = [
            python, "-m", "app.consumer",
            "--bootstrap-servers", bootstrap_servers,
            "--topic", topic,
            "--group-id", group_id,
            "--log-file", str(self.log_file),
            "--client", client,
        ]  # fmt: skip
        # Flags carry the run's choices; the cluster's security settings come as the run says
        # (None: as the environment has them), never the environment's for another cluster.
        # "consumer ready" must reach the file at once, hence unbuffered.
        env = dict(os.environ) if security is None else {**without_security(os.environ),
                                                          **security.to_env()}  # fmt: skip
        self.process = ManagedProcess(
            "consumer",
            cmd,
            self.output_path,
            env={**env, "PYTHONUNBUFFERED": "1", **(extra_env or {})},
            cwd=cwd,
            detached=detached,
            stop_timeout=stop_timeout,
        )
        self._output_offset = 0

    def start(self, wait: bool = True) -> ConsumerService:
        # Output files are appended to: only lines written after this start count as "ready".
        self._output_offset = self.output_path.stat().st_size if self.output_path.exists() else 0
        return self._start_process(wait)

    def _said_ready(self) -> bool:
        try:
            with open(self.output_path, "rb") as fh:
                fh.seek(self._output_offset)
                return READY_LINE.encode() in fh.read()
        except FileNotFoundError:
            return False

    def wait_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (self.ready_timeout if timeout is None else timeout)
        while time.monotonic() < deadline:
            if self._said_ready():
                return
            if not self.process.running():
                raise ServiceStartError(
                    f"the consumer exited with code {self.process.returncode()}:\n"
                    + tail(self.output_path)
                )
            time.sleep(0.1)
        raise ServiceStartError(
            "the consumer did not say 'consumer ready' within the timeout:\n"
            + tail(self.output_path)
        )

    def kill(self) -> int | None:
        return self.process.kill()
