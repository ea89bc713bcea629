"""The run parameters' one definition (harness/params.py): `--help` shows every default as
RunConfig has it, docs/CONTRACTS.md's table agrees, parameters that do nothing with the others are
warned about, combinations that cannot work are refused, and the auto warm-up is what it says."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from harness.params import (
    AUTO_WARMUP_S,
    AUTO_WARMUP_SHARE,
    HELP,
    ParameterError,
    RunConfig,
    add_run_arguments,
    ineffective,
)

ROOT = Path(__file__).resolve().parents[1]


def _helps() -> dict[str, str]:
    """Each run parameter's --help text, by parameter."""
    parser = argparse.ArgumentParser(prog="run")
    add_run_arguments(parser)
    return {
        a.dest: a.help % {} for a in parser._actions if a.dest in RunConfig.__dataclass_fields__
    }


def test_help_shows_every_parameter_with_the_default_runconfig_gives_it():
    helps = _helps()
    assert set(helps) == {f.name for f in fields(RunConfig)} == set(HELP)
    for f in fields(RunConfig):
        found = re.search(r"\(default: (.*)\)$", helps[f.name])
        assert found, f"{f.name} has no default in --help: {helps[f.name]}"
        if f.default is not None and not isinstance(f.default, bool):
            assert found.group(1) == str(f.default), (f.name, found.group(1), f.default)
    for words in HELP.values():  # defaults come from RunConfig, not from the words
        assert not re.search(r"\(\d+\)", words), words


def test_the_contracts_table_gives_the_defaults_runconfig_has():
    table = (ROOT / "docs" / "CONTRACTS.md").read_text().split("## Run parameters", 1)[1]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", table, re.M)
    documented = {name: default.strip() for name, default in rows}
    for name in ("events", "threads", "events_per_request", "drain_timeout_s", "broker_warmup_s"):
        assert float(documented[name]) == getattr(RunConfig(), name), name
    assert documented["warmup_s"] == "auto" and RunConfig().warmup_s is None
    shown = set(re.findall(r"`(\w+)`", " ".join(line for line in table.split("\n## ")[0].splitlines()
                                                 if line.startswith("| `"))))  # fmt: skip
    missing = {f.name for f in fields(RunConfig)} - shown
    assert not missing, f"parameters the table lacks: {missing}"


@pytest.mark.parametrize(
    "given, expected",
    [
        ({"rate": 100, "threads": 50}, "--threads has no effect: with rate"),
        ({"duration_s": 5, "events": 100}, "--events has no effect: with duration_s"),
        ({"server": "werkzeug", "workers": 4}, "--workers has no effect: werkzeug"),
        ({"server": "gunicorn-gevent", "worker_threads": 8}, "--worker-threads has no effect"),
        ({"events_per_request": 100}, "--events-per-request has no effect"),
        ({"outage_s": 3}, "--outage-s has no effect"),
        ({"keep_topic": True}, "--keep-topic has no effect"),
        (
            {
                "api_url": "http://h:1",
                "bootstrap_servers": "h:9",
                "server": "gunicorn",
                "linger_ms": 5,
            },
            "--linger-ms, --server have no effect: with api_url",
        ),  # fmt: skip
    ],
)
def test_a_parameter_that_does_nothing_is_warned_about(given, expected):
    cfg = RunConfig.from_dict(given)
    assert any(w.startswith(expected) or expected in w for w in ineffective(given, cfg)), (
        ineffective(given, cfg)
    )


def test_parameters_that_all_act_give_no_warning():
    given = {"rate": 100, "server": "gunicorn", "workers": 4, "events": 500}
    assert ineffective(given, RunConfig.from_dict(given)) == []


@pytest.mark.parametrize(
    "given, match",
    [
        ({"brokers": 3, "bootstrap_servers": "h:9092"}, "external cluster"),
        ({"warmup_s": 60, "events": 100, "rate": 10}, "covers the whole run"),
        ({"replication_factor": 3}, "needs at least that many brokers"),
        ({"fault": "kill-broker", "bootstrap_servers": "h:9092"}, "needs the embedded cluster"),
        ({"min_insync_replicas": 3, "replication_factor": 2, "brokers": 2}, "cannot exceed"),
    ],
)
def test_a_combination_that_cannot_work_is_refused(given, match):
    with pytest.raises(ParameterError, match=match):
        RunConfig.from_dict(given)


def test_the_cli_refuses_before_anything_starts_and_warns_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "harness", "run", "--brokers", "3",
                          "--bootstrap-servers", "127.0.0.1:9", "--out", str(tmp_path / "x")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert (
        out.returncode == 2 and "external cluster" in out.stderr and "Traceback" not in out.stderr
    )
    assert not (tmp_path / "x").exists()
    capacity = subprocess.run([sys.executable, "-m", "harness", "capacity",
                               "--p99-objective-ms", "250", "--duration-s", "5",
                               "--out", str(tmp_path / "c")],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert capacity.returncode == 2 and "--step-s" in capacity.stderr


def test_the_auto_warmup_caps_a_count_run_and_leaves_a_timed_run_its_seconds():
    count = RunConfig().simulator_config("http://x", "r")
    assert (count.warmup_s, count.warmup_share) == (AUTO_WARMUP_S, AUTO_WARMUP_SHARE)
    timed = RunConfig(duration_s=5).simulator_config("http://x", "r")
    assert (timed.warmup_s, timed.warmup_share) == (AUTO_WARMUP_S, None)
    given = RunConfig(warmup_s=1.5).simulator_config("http://x", "r")
    assert (given.warmup_s, given.warmup_share) == (1.5, None)


def test_the_api_key_is_in_no_dict_that_reaches_a_file(monkeypatch):
    cfg = RunConfig(api_key="hush")
    assert "hush" not in repr(cfg) and cfg.to_dict()["api_key"] == "(set)"
    assert cfg.simulator_config("http://x", "r").api_key == "hush"  # but it is sent
    assert cfg.producer_settings("b:9", "t").api_key == "hush"  # and required
    monkeypatch.setenv("HARNESS_API_KEY", "from-env")
    assert RunConfig().api_key == "from-env" and RunConfig().to_dict()["api_key"] == "(set)"
