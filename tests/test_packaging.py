"""The files users run without the harness: docker-compose.yml, environment.yml, README, CI."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

from app.consumer import ENV_VARS as CONSUMER_ENV_VARS
from app.consumer import ConsumerSettings
from app.flags import producer_overrides
from app.producer import build_parser
from app.settings import ENV_VARS, ProducerSettings
from harness.java import kafka_version
from harness.updown import CONSUMER_GROUP

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _listeners(value: str) -> dict[str, str]:
    """'NAME://host:port,...' -> {NAME: 'host:port'}"""
    return dict(item.split("://", 1) for item in value.split(","))


def test_compose_runs_the_official_kafka_image_of_the_pinned_version_in_kraft_mode():
    broker = _compose()["services"]["broker"]
    assert broker["image"] == f"apache/kafka:{kafka_version()}"
    env = broker["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in env), "KRaft mode: no ZooKeeper"
    node_id = str(env["KAFKA_NODE_ID"])
    voter_id, voter_addr = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")
    assert voter_id == node_id
    listeners = _listeners(env["KAFKA_LISTENERS"])
    controller = listeners[env["KAFKA_CONTROLLER_LISTENER_NAMES"]]
    assert voter_addr.rsplit(":", 1)[1] == controller.rsplit(":", 1)[1]
    assert len(env["CLUSTER_ID"]) == 22


def test_compose_listeners_are_consistent_and_expose_9092_on_localhost():
    services = _compose()["services"]
    env = services["broker"]["environment"]
    protocol_map = dict(
        p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    listeners = _listeners(env["KAFKA_LISTENERS"])
    advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    assert set(listeners) <= set(protocol_map)
    assert set(advertised) <= set(listeners)
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert "localhost:9092" in advertised.values()
    assert "127.0.0.1:9092:9092" in services["broker"]["ports"]
    # The app containers reach Kafka on the advertised in-network listener.
    internal = advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    for name in ("api", "consumer"):
        assert services[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == internal
        assert services[name]["depends_on"]["broker"]["condition"] == "service_healthy"


def test_compose_app_services_run_the_project_entry_points():
    services = _compose()["services"]
    assert services["api"]["command"][:3] == ["python", "-m", "app.producer"]
    assert services["consumer"]["command"][:3] == ["python", "-m", "app.consumer"]
    assert (ROOT / "Dockerfile").exists()


def test_compose_generators_are_dask_workers_of_the_compose_scheduler_and_scale():
    """`docker compose up --scale generator=4`: each generator a single-threaded Dask worker on the
    project's image, joined to the scheduler service on the port it listens on; nothing that would
    stop a service from scaling (a fixed name, a host port)."""
    services = _compose()["services"]
    scheduler, generator = services["dask-scheduler"], services["generator"]
    cmd = scheduler["command"]
    assert cmd[:2] == ["dask", "scheduler"]
    port = cmd[cmd.index("--port") + 1]
    assert f"127.0.0.1:{port}:{port}" in scheduler["ports"]
    wcmd = generator["command"]
    assert wcmd[:3] == ["dask", "worker", f"tcp://dask-scheduler:{port}"]
    assert wcmd[wcmd.index("--nthreads") + 1] == "1" and wcmd[wcmd.index("--nworkers") + 1] == "1"
    assert generator["build"] == scheduler["build"] == services["api"]["build"] == "."
    assert "dask-scheduler" in generator["depends_on"]
    assert "container_name" not in generator and "ports" not in generator
    # the image has what the workers run: the harness and Dask's own command
    assert "COPY harness ./harness" in (ROOT / "Dockerfile").read_text()
    deps = (ROOT / "pyproject.toml").read_text()
    assert '"distributed' in deps


def test_compose_app_services_use_the_settings_names_of_harness_up():
    """Every flag and variable of the compose file is one the app reads, as `harness up` passes
    them; the API and the consumer agree on cluster, topic and client, and the consumer's group is
    `harness up`'s."""
    services = _compose()["services"]
    api, consumer = services["api"], services["consumer"]
    assert set(api["environment"]) <= set(ENV_VARS), set(api["environment"]) - set(ENV_VARS)
    assert set(consumer["environment"]) <= set(CONSUMER_ENV_VARS)
    api_args = build_parser().parse_args(api["command"][3:])  # an unknown flag exits
    api_settings = ProducerSettings.from_env(
        {k: str(v) for k, v in api["environment"].items()}, **producer_overrides(api_args)
    )
    env = {k: str(v) for k, v in consumer["environment"].items()}
    consumer_settings = ConsumerSettings.from_args(consumer["command"][3:], env)
    for name in ("bootstrap_servers", "topic", "client"):
        assert getattr(api_settings, name) == getattr(consumer_settings, name), name
    assert consumer_settings.group_id == CONSUMER_GROUP


def test_environment_yml_creates_the_same_environment_with_conda():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    names = [d for d in deps if isinstance(d, str)]
    assert "python=3.11" in names
    java = [d for d in names if d.startswith("openjdk")]
    assert java and int(java[0].split("=")[1]) >= 17
    assert "maven" in names and "pip" in names
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "-e .[dev]" in pip


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:sh|bash)?\n(.*?)```", text, re.S)
    assert blocks, "README has no command block"
    assert blocks[0].split() == ["make", "run", "make", "test"]
    for needed in ("Python 3.11", "Java 17", "Maven", "Docker", "KAFKA_BOOTSTRAP_SERVERS"):
        assert needed in text


def test_ci_runs_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec make test$", script, re.M)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: setup$", makefile, re.M)
    # make run sets up the venv, and the broker's jars only when it starts a broker (checked by
    # a dry run in tests/test_docs_examples.py).
    assert re.search(r"^run: \$\(RUN_NEEDS\)$", makefile, re.M)


def test_the_wheel_the_dockerfile_installs_carries_every_package_and_the_jvm_config(tmp_path):
    """The Dockerfile copies these and runs `pip install .` (not editable): the wheel must hold
    every subpackage (a `packages` list of the top two left harness.analysis and others out)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("app", "harness"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = [i.parent.relative_to(ROOT) for top in ("app", "harness")
                for i in (ROOT / top).rglob("__init__.py")]  # fmt: skip
    assert {"app", "harness", "harness/analysis", "harness/report"} <= {str(p) for p in packages}
    for package in packages:
        assert f"{package}/__init__.py" in names, package
    assert "harness/jvm/log4j2.xml" in names
