"""The embedded broker's class-data sharing (CDS) archive.

A broker start spends most of its CPU loading Kafka's and Scala's ~7,000 classes from the jars. With
an archive of them the JVM maps those classes instead: here a start and stop (format included) took
3.3 CPU-s instead of 5.3 and was ready in 1.9 s instead of 3.0 (benchmarks/bench_kafka_startup.py).
The broker runs the same code either way; only class loading changes. `make setup` builds the archive once per classpath and Java from
the class list of one broker start. Without it, or with a stale one (the JVM checks the jars' sizes
and times and its own build, and silently ignores an archive that does not match), a broker loads
its classes the usual way.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

from harness.paths import harness_home


def archive_file(classpath: str, java: str) -> Path:
    real_java = os.path.realpath(java)
    key = f"{classpath}\n{real_java}\n{os.stat(real_java).st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return harness_home() / "cds" / f"kafka-{digest}.jsa"


def jvm_options(classpath: str, java: str) -> list[str]:
    """The options that make a JVM on `classpath` use the archive, when it was built."""
    archive = archive_file(classpath, java)
    return [f"-XX:SharedArchiveFile={archive}"] if archive.exists() else []


def build() -> Path:
    """List the classes one broker start loads, then dump them into the archive (~15 s, once)."""
    from harness import java
    from harness.kafka import EmbeddedKafka

    java_exe, classpath = java.check_java(), java.broker_classpath()
    archive = archive_file(classpath, java_exe)
    if archive.exists():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=archive.parent) as tmp:
        class_list = Path(tmp) / "classes.txt"
        with EmbeddedKafka(root=Path(tmp) / "kafka", broker_jvm_options=[
            f"-XX:DumpLoadedClassList={class_list}"
        ]):  # fmt: skip
            pass
        partial = Path(tmp) / archive.name
        cmd = [java_exe, "-Xshare:dump", f"-XX:SharedClassListFile={class_list}",
               f"-XX:SharedArchiveFile={partial}", "-cp", classpath]  # fmt: skip
        dump = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if dump.returncode != 0:  # not fatal for a user: brokers just start without it
            raise RuntimeError("Dumping the broker's class archive failed:\n" + dump.stdout[-3000:])
        partial.replace(archive)
    return archive


if __name__ == "__main__":
    try:
        print(f"The broker's class archive: {build()}")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:  # a slower start, not a broken one
        print(f"warning: no class archive; brokers will load their classes from the jars. {exc}")
