"""The embedded Apache Kafka: N KRaft brokers in combined mode, each a `java` process.

One mechanism for one broker and for a cluster: every node is both controller and broker, the quorum
is static (`controller.quorum.voters`), storage is formatted with Kafka's own StorageTool, and a node
is ready when the cluster answers a metadata request listing every broker.

    with EmbeddedKafka(brokers=3) as kafka:
        kafka.bootstrap_servers   # "127.0.0.1:PORT1,127.0.0.1:PORT2,..."
        kafka.kill_node(1)        # fault injection: SIGKILL
        kafka.start_node(1)       # restart on the same data
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from harness import cds, java
from harness.paths import harness_home
from harness.ports import free_ports, port_in_use
from harness.processes import ManagedProcess, pid_alive, pid_cmdline, tail, terminate_pid

log = logging.getLogger(__name__)

DEFAULT_PORT = 9092
BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
JVM_OPTS = [
    "-Xms256m",
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]
# Extra JVM options for every broker the harness starts, unless the caller names its own (the test
# suite runs its short-lived brokers on the C1 compiler alone: a 3-broker cluster's start and 30 s
# at 150 events/s took half the CPU, 32 CPU-s against 63, with C2's compilations left out).
BROKER_JVM_OPTIONS_ENV = "HARNESS_BROKER_JVM_OPTS"


class KafkaStartError(RuntimeError):
    """The broker did not come up; the message carries the tail of its log."""


def new_cluster_id() -> str:
    """A Kafka Uuid as StorageTool's random-uuid prints it (base64url, 22 chars), without a JVM."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka avoids ids that look like command-line flags
            return text


@dataclass
class Node:
    node_id: int
    port: int
    controller_port: int
    root: Path
    process: ManagedProcess | None = None

    @property
    def config_path(self) -> Path:
        return self.root / "server.properties"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def data_dir(self) -> Path:
        """log.dirs: the partitions' segment files."""
        return self.root / "data"

    @property
    def stdout_path(self) -> Path:
        return self.root / "stdout.log"

    def log_tail(self, lines: int = 40) -> str:
        text = tail(self.logs_dir / "server.log", lines)
        out = tail(self.stdout_path, lines)
        return "\n".join(t for t in (text, out) if t)


class EmbeddedKafka:
    """Owns N broker processes: formats, starts, waits until ready, stops (SIGTERM, then SIGKILL)."""

    def __init__(
        self,
        brokers: int = 1,
        port: int | None = None,
        host: str = "127.0.0.1",
        controller_port: int | None = None,
        root: Path | None = None,
        min_insync_replicas: int = 1,
        broker_config: dict[str, str] | None = None,
        detached: bool = False,
        ready_timeout: float = 90.0,
        stop_timeout: float = 20.0,
        broker_jvm_options: list[str] | None = None,
        class_archive: bool = True,
    ) -> None:
        """`port` is the first broker's port (the others follow it), `controller_port` the first
        controller's; each left None is chosen free by the OS (again at start, should another
        process take it in the meantime). `broker_jvm_options` go to the brokers' JVMs only
        (None: those of $HARNESS_BROKER_JVM_OPTS, if any); `class_archive`: map the class archive
        of harness/cds.py when it was built."""
        if brokers < 1:
            raise ValueError("brokers must be >= 1")
        self.port = port
        self.controller_port = controller_port
        self.brokers = brokers
        self.host = host
        self.root = Path(root) if root else harness_home() / "kafka" / "default"
        self.min_insync_replicas = min_insync_replicas
        self.broker_config = dict(broker_config or {})
        self.detached = detached
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        if broker_jvm_options is None:
            broker_jvm_options = shlex.split(os.environ.get(BROKER_JVM_OPTIONS_ENV, ""))
        self.broker_jvm_options = list(broker_jvm_options)
        self.class_archive = class_archive
        self.cluster_id = new_cluster_id()
        self.nodes = self._plan_nodes()
        self._classpath: str | None = None
        self._java: str | None = None
        self._cds: list[str] = []

    # -- layout ---------------------------------------------------------------------------
    def _plan_nodes(self) -> list[Node]:
        """Given ports as given (the brokers' and the controllers' each follow the first), the
        others chosen free by the OS: a port next to a given one may be anyone's (right after a
        busy run, thousands of client sockets sit in TIME-WAIT on ephemeral ports)."""
        free = iter(free_ports(2 * self.brokers, self.host))
        broker_ports = ([self.port + i for i in range(self.brokers)] if self.port is not None
                        else [next(free) for _ in range(self.brokers)])  # fmt: skip
        controller_ports = ([self.controller_port + i for i in range(self.brokers)]
                            if self.controller_port is not None
                            else [next(free) for _ in range(self.brokers)])  # fmt: skip
        return [
            Node(i + 1, broker_ports[i], controller_ports[i], self.root / f"node-{i + 1}")
            for i in range(self.brokers)
        ]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{self.host}:{n.port}" for n in self.nodes)

    def node_bootstrap(self, node_id: int) -> str:
        return f"{self.host}:{self._node(node_id).port}"

    def _node(self, node_id: int) -> Node:
        return self.nodes[node_id - 1]

    def _server_properties(self, node: Node) -> str:
        voters = ",".join(f"{n.node_id}@{self.host}:{n.controller_port}" for n in self.nodes)
        internal_rf = min(3, self.brokers)
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{self.host}:{node.port},CONTROLLER://{self.host}:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{node.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(node.data_dir),
            "num.partitions": "3",
            "default.replication.factor": str(internal_rf),
            "min.insync.replicas": str(self.min_insync_replicas),
            "offsets.topic.replication.factor": str(internal_rf),
            # Fewer coordinator partitions: the first consumer group forms in a fraction of the time.
            "offsets.topic.num.partitions": "5",
            "share.coordinator.state.topic.replication.factor": str(internal_rf),
            "share.coordinator.state.topic.min.isr": "1",
            "transaction.state.log.replication.factor": str(internal_rf),
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # A killed broker is fenced after 4 s instead of 9 s: clients fail over in about 4 s,
            # before a consumer's 10 s session expires (fault runs; no effect on a healthy run).
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "1000",
        }
        props.update(self.broker_config)
        return "".join(f"{k}={v}\n" for k, v in props.items())

    # -- lifecycle --------------------------------------------------------------------------
    def _given(self, port: int) -> bool:
        """Whether `port` was given by the caller (else the OS chose it)."""
        given = [self.port, self.controller_port]
        return any(g is not None and g <= port < g + self.brokers for g in given)

    def _check_ports(self, attempts: int = 5) -> None:
        """A given port in use is an error; a chosen one taken since it was chosen is chosen
        again (its node gets a new free port, never one next to the others)."""
        for _ in range(attempts):
            taken = [p for n in self.nodes for p in (n.port, n.controller_port)
                     if port_in_use(p, self.host)]  # fmt: skip
            given = [p for p in taken if self._given(p)]
            if given:
                flag = "--port" if any(n.port in given for n in self.nodes) else "--controller-port"
                raise KafkaStartError(
                    f"Port {given[0]} on {self.host} is already in use (another Kafka? try "
                    f"`python -m harness kafka stop`, or choose another port with {flag})."
                )
            if not taken:
                return
            self.nodes = self._plan_nodes()
        raise KafkaStartError(f"no free ports on {self.host} after {attempts} tries")

    def start(self, attempts: int = 3) -> EmbeddedKafka:
        """Formats and starts every node and waits until the cluster is ready. A node that could
        not bind a port the OS chose for it (taken between the choice and the bind) is started
        again on new ports, up to `attempts` times."""
        self._java = java.check_java()
        self._classpath = java.broker_classpath()
        self._cds = cds.jvm_options(self._classpath, self._java) if self.class_archive else []
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once()
            except KafkaStartError as exc:
                if attempt == attempts or not _bind_failed(exc) or self._all_ports_given():
                    raise
                log.warning("a chosen port was taken before Kafka bound it; new ports: %s", exc)
                self.nodes = self._plan_nodes()
        raise AssertionError("unreachable")

    def _all_ports_given(self) -> bool:
        return self.port is not None and self.controller_port is not None

    def _start_once(self) -> EmbeddedKafka:
        self._check_ports()
        if self.root.exists():
            shutil.rmtree(self.root)
        for node in self.nodes:
            node.logs_dir.mkdir(parents=True)
            node.config_path.write_text(self._server_properties(node))
        try:
            self._format_storage()
            for node in self.nodes:
                self._launch(node)
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _java_cmd(self, node: Node, main: str, *args: str) -> list[str]:
        return [
            self._java,
            *JVM_OPTS,
            *self._cds,
            f"-Dlog4j2.configurationFile={java.LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={node.logs_dir}",
            "-cp",
            self._classpath,
            main,
            *args,
        ]

    def _format_storage(self) -> None:
        """Format every node's storage in parallel (one short JVM each)."""
        procs = []
        for node in self.nodes:
            cmd = self._java_cmd(
                node, STORAGE_TOOL, "format", "-t", self.cluster_id, "-c", str(node.config_path)
            )
            cmd[1:1] = ["-Xmx256m"]
            procs.append(
                (node, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            )
        for node, proc in procs:
            out, _ = proc.communicate(timeout=120)
            if proc.returncode != 0:
                raise KafkaStartError(
                    f"Formatting the storage of Kafka node {node.node_id} failed:\n"
                    + out.decode(errors="replace")[-3000:]
                )

    def _launch(self, node: Node) -> None:
        cmd = self._java_cmd(node, BROKER_MAIN, str(node.config_path))
        cmd[1:1] = self.broker_jvm_options
        node.process = ManagedProcess(
            f"kafka-{node.node_id}",
            cmd,
            node.stdout_path,
            detached=self.detached,
            stop_timeout=self.stop_timeout,
        ).start()

    def wait_ready(self, timeout: float | None = None, brokers: int | None = None) -> None:
        """Until the cluster answers a metadata request that lists `brokers` brokers."""
        want = self.brokers if brokers is None else brokers
        deadline = time.monotonic() + (timeout or self.ready_timeout)
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.process is not None and node.process.returncode() is not None:
                    raise KafkaStartError(
                        f"Kafka node {node.node_id} exited with code {node.process.returncode()} "
                        f"while starting. Its log ({node.logs_dir}/server.log) ends with:\n"
                        + node.log_tail()
                    )
            if not all(port_in_use(n.port, self.host) for n in self.nodes if _alive(n)):
                # Cheap check first: kafka-python backs off for seconds on a refused bootstrap.
                time.sleep(0.1)
                continue
            try:
                info = describe_cluster(self.bootstrap_servers, timeout_s=3)
                if len(info["brokers"]) >= want and info["controller_id"] not in (None, -1):
                    return
                last_error = f"{len(info['brokers'])}/{want} brokers registered"
            except Exception as exc:  # not up yet: connection refused, no brokers, timeouts
                last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        raise KafkaStartError(
            f"Kafka did not become ready within {timeout or self.ready_timeout:.0f} s "
            f"({last_error}). The log of node 1 ends with:\n" + self.nodes[0].log_tail()
        )

    def stop(self) -> None:
        """SIGTERM every node (in parallel), SIGKILL those still alive after the timeout."""
        running = [n.process for n in self.nodes if n.process is not None and n.process.running()]
        for proc in running:
            proc.signal(signal.SIGCONT)  # a paused node must run to handle SIGTERM
            proc.signal(signal.SIGTERM)
        for proc in running:
            proc.stop(self.stop_timeout)

    # -- fault injection -------------------------------------------------------------------------
    def kill_node(self, node_id: int) -> int | None:
        """SIGKILL one broker (no clean shutdown); returns its exit code."""
        return self._node(node_id).process.kill()

    def pause_node(self, node_id: int) -> None:
        """SIGSTOP: the broker stops answering (connections hang, as in a network partition)."""
        self._node(node_id).process.signal(signal.SIGSTOP)

    def resume_node(self, node_id: int) -> None:
        self._node(node_id).process.signal(signal.SIGCONT)

    def stop_node(self, node_id: int) -> int | None:
        """SIGTERM one broker (a controlled shutdown), SIGKILL after the timeout; its exit code."""
        return self._node(node_id).process.stop(self.stop_timeout)

    def start_node(self, node_id: int, wait: bool = True) -> None:
        """Restart a stopped or killed node on its existing data."""
        node = self._node(node_id)
        if node.process is not None and node.process.running():
            return
        self._launch(node)
        if wait:
            self.wait_ready()

    def node_running(self, node_id: int) -> bool:
        proc = self._node(node_id).process
        return proc is not None and proc.running()

    def pids(self) -> list[int]:
        return [n.process.pid for n in self.nodes if n.process is not None and n.process.running()]

    # -- detached state (python -m harness kafka start|status|stop) ----------------------------
    def state(self) -> dict:
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "cluster_id": self.cluster_id,
            "root": str(self.root),
            "pids": self.pids(),
            "kafka_version": java.kafka_version(),
        }

    def __enter__(self) -> EmbeddedKafka:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _bind_failed(exc: KafkaStartError) -> bool:
    """The broker exited because a port was taken (java.net.BindException)."""
    return "BindException" in str(exc) or "Address already in use" in str(exc)


def _alive(node: Node) -> bool:
    return node.process is not None and node.process.running()


def describe_cluster(bootstrap_servers: str, timeout_s: float = 5.0) -> dict:
    """One metadata round trip: {'brokers': [...], 'controller_id': ..., 'cluster_id': ...}."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=int(timeout_s * 1000),
        client_id="harness-probe",
        reconnect_backoff_max_ms=200,
    )
    try:
        return admin.describe_cluster()
    finally:
        admin.close()


# -- the detached broker of `python -m harness kafka start|status|stop` -------------------------
def state_file() -> Path:
    return harness_home() / "kafka" / "state.json"


def read_state() -> dict | None:
    try:
        return json.loads(state_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def start_detached(
    brokers: int = 1,
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    controller_port: int | None = None,
) -> dict:
    state = read_state()
    if state and any(_is_broker(pid) for pid in state["pids"]):
        raise KafkaStartError(
            f"An embedded Kafka is already running at {state['bootstrap_servers']} "
            "(`python -m harness kafka stop` stops it)."
        )
    kafka = EmbeddedKafka(brokers=brokers, port=port, host=host, detached=True,
                          controller_port=controller_port)  # fmt: skip
    kafka.start()
    state = kafka.state()
    state_file().parent.mkdir(parents=True, exist_ok=True)
    state_file().write_text(json.dumps(state, indent=2))
    return state


def _is_broker(pid: int) -> bool:
    """Alive and still a Kafka broker (a pid can be reused by another process)."""
    return pid_alive(pid) and BROKER_MAIN in pid_cmdline(pid)


def status_detached() -> tuple[bool, str]:
    state = read_state()
    if not state:
        return (
            False,
            "No embedded Kafka is running (start one with `python -m harness kafka start`).",
        )
    alive = [pid for pid in state["pids"] if _is_broker(pid)]
    if not alive:
        return False, "The embedded Kafka is not running (its processes are gone)."
    try:
        info = describe_cluster(state["bootstrap_servers"], timeout_s=5)
    except Exception as exc:
        return (
            False,
            f"Kafka processes {alive} run but do not answer at {state['bootstrap_servers']}: {exc}",
        )
    return True, (
        f"Kafka {state['kafka_version']} running at {state['bootstrap_servers']} "
        f"({len(info['brokers'])} broker(s), pids {alive})"
    )


def stop_detached(timeout: float = 20.0) -> list[int]:
    """Stop the detached brokers; returns the pids that were stopped."""
    state = read_state()
    if not state:
        return []
    stopped = [pid for pid in state["pids"] if _is_broker(pid)]
    for pid in stopped:
        os.kill(pid, 15)
    for pid in stopped:
        terminate_pid(pid, timeout)
    state_file().unlink(missing_ok=True)
    shutil.rmtree(state["root"], ignore_errors=True)
    return stopped
