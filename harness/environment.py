"""What a result was measured on: recorded with every run and printed by every benchmark."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from harness.java import kafka_version
from harness.paths import PROJECT_ROOT as ROOT


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "diff", "--quiet"], cwd=ROOT, capture_output=True).returncode
    return out.stdout.strip() + ("-dirty" if dirty else "")


def library_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# The libraries a run's figures depend on: the Kafka clients, the HTTP servers, the web framework.
LIBRARIES = ("confluent-kafka", "kafka-python", "granian", "gunicorn", "gevent", "werkzeug",
             "flask", "orjson")  # fmt: skip


def library_versions() -> dict[str, str | None]:
    """{library: version} of LIBRARIES as installed here (None: not installed)."""
    return {name: library_version(name) for name in LIBRARIES}


def environment(client_library: str | None = None) -> dict:
    """The `environment` block of metrics.json (docs/CONTRACTS.md), plus a few more facts."""
    return {
        "kafka_version": kafka_version(),
        "python_version": platform.python_version(),
        "client_library": client_library,
        "client_library_version": library_version(
            {"kafka-python": "kafka-python", "confluent-kafka": "confluent-kafka"}.get(
                client_library or "", "kafka-python"
            )
        ),
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "libraries": library_versions(),
    }


def machine_line() -> str:
    """One line for benchmark output."""
    env = environment()
    return (
        f"machine: {env['hostname']}, {env['cpu_count']} CPUs ({env['cpu_model']}), "
        f"Python {env['python_version']}, Kafka {env['kafka_version']}, "
        f"{env['platform']}, commit {env['git_commit']}, {env['started_at']}"
    )
