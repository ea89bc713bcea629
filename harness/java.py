"""Java and Maven for the embedded broker: version checks and the broker's classpath.

Maven resolves `harness/jvm/pom.xml` into its local repository (the only jar cache) and writes the
classpath; we keep that classpath in a file keyed by the pom's hash, so a second start asks Maven nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from harness.paths import harness_home

JVM_DIR = Path(__file__).parent / "jvm"
POM = JVM_DIR / "pom.xml"
LOG4J_CONFIG = JVM_DIR / "log4j2.xml"
MIN_JAVA = 17


class SetupError(RuntimeError):
    """A prerequisite is missing; the message says what to install or do."""


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise SetupError(
            f"Java {MIN_JAVA}+ is required to run the embedded Kafka broker, but `java` was not found. "
            "Install it (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`; macOS: "
            "`brew install openjdk@17`) or set JAVA_HOME; or point the harness at an existing cluster "
            "with KAFKA_BOOTSTRAP_SERVERS."
        )
    return found


def java_major_version(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    text = out.stderr + out.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        raise SetupError(f"Could not read the Java version from `{java} -version`: {text.strip()}")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 else major  # "1.8" means Java 8


def check_java() -> str:
    java = java_executable()
    major = java_major_version(java)
    if major < MIN_JAVA:
        raise SetupError(
            f"Kafka 4 brokers need Java {MIN_JAVA}+, but {java} is Java {major}. Install Java 17 or 21 "
            "(Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`) and put it first on PATH or "
            "set JAVA_HOME."
        )
    return java


def check_maven() -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise SetupError(
            "Maven is required once, to fetch Apache Kafka's jars from Maven Central, but `mvn` was "
            "not found. Install it (Debian/Ubuntu: `apt-get install maven`; macOS: `brew install "
            "maven`), or use an existing cluster with KAFKA_BOOTSTRAP_SERVERS."
        )
    out = subprocess.run([mvn, "-v"], capture_output=True, text=True, timeout=60)
    match = re.search(r"Apache Maven (\d+)\.(\d+)", out.stdout)
    if match and (int(match.group(1)), int(match.group(2))) < (3, 6):
        raise SetupError(f"Maven 3.6+ is required, found {match.group(0)}. Please upgrade Maven.")
    return mvn


def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    assert match, "harness/jvm/pom.xml must pin <kafka.version>"
    return match.group(1)


def _classpath_file() -> Path:
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    return harness_home() / "classpath" / f"kafka-{kafka_version()}-{digest}.txt"


def broker_classpath(resolve: bool = True) -> str:
    """The broker's classpath: from the cache file when every jar is still there, else from Maven."""
    cache = _classpath_file()
    if cache.exists():
        classpath = cache.read_text().strip()
        if classpath and all(Path(p).exists() for p in classpath.split(os.pathsep)):
            return classpath
    if not resolve:
        raise SetupError("Kafka's jars are not resolved yet: run `make kafka-jars`.")
    mvn = check_maven()
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM),
        "dependency:build-classpath",
        f"-Dmdep.outputFile={tmp}",
        "-Dmdep.includeScope=runtime",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()[-25:]
        raise SetupError(
            "Maven could not resolve Apache Kafka's jars from Maven Central (is the network to the "
            "Maven repository reachable? a proxy in ~/.m2/settings.xml?). Maven said:\n"
            + "\n".join(output)
        )
    tmp.replace(cache)
    return cache.read_text().strip()
