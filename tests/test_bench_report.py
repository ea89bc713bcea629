"""harness/bench.py: the table and docs/BENCHMARKS.md built from the scripts' JSON figures."""

from __future__ import annotations

import pytest

from harness import bench

MACHINE = {"hostname": "box", "cpu_count": 2, "cpu_model": "AMD EPYC", "platform": "Linux-x",
           "python_version": "3.11.7", "kafka_version": "4.1.1", "git_commit": "abc123"}  # fmt: skip


def result(name: str, figures: dict, ratios: list[dict], **extra) -> dict:
    return {
        "benchmark": name, "title": f"{name} title", "params": {"quick": True, "json": None},
        "machine": MACHINE, "libraries": {"kafka-python": "3.0.12", "gunicorn": None},
        "loadavg": {"start": [3.5, 2, 1], "end": [4.25, 2, 1]}, "duration_s": 42.0,
        "figures": {k: {"unit": u, "runs": runs, "median": sorted(runs)[len(runs) // 2]}
                    for k, (u, runs) in figures.items()},
        "ratios": ratios, "notes": [f"{name} note"], **extra,
    }  # fmt: skip


def ratio(item, name, value, target, num, den, met, op=">=", unit="x") -> dict:
    return {"item": item, "name": name, "value": value, "target": target, "op": op, "met": met,
            "numerator": num, "denominator": den, "unit": unit}  # fmt: skip


@pytest.fixture
def results() -> list[dict]:
    api = result(
        "api",
        {"full": ("events/s", [800.0, 812.0, 790.0]), "seed": ("events/s", [320.0, 300.0, 310.0]),
         "noop": ("events/s", [1500.0, 1490.0, 1510.0])},
        [ratio(2, "full / noop", 0.54, 0.7, "full", "noop", False),
         ratio(1, "tuned / seed", 2.58, 10, "full", "seed", False)],
    )  # fmt: skip
    analysis = result(
        "analysis",
        {"parse + summarize": ("s", [3.1, 3.3, 2.9])},
        [ratio(7, "parse + summarize 1M lines", 3.1, 5.0, "parse + summarize", None, True,
               op="<", unit="s")],
    )  # fmt: skip
    scaling = result(
        "scaling",
        {"w1": ("events/s", [100.0, 100.0, 100.0]), "w2": ("events/s", [150.0, 150.0, 150.0])},
        [ratio(8, "workers 2 / 1", 1.5, None, "w2", "w1", None)],
    )
    failed = {"benchmark": "consumer", "error": "exit code 1", "log_tail": "Traceback: boom"}
    return [scaling, api, analysis, failed]


def test_rows_follow_issue_order_with_raw_medians(results):
    got = bench.rows(results)
    assert [r["item"] for r in got] == [1, 2, 7, 8]
    first = got[0]
    assert (
        first["value"] == "2.58 x" and first["target"] == ">= 10" and first["verdict"] == "MISSED"
    )
    assert first["raw"] == "full: 800 events/s / seed: 310 events/s"
    assert (
        got[2]["value"] == "3.10 s" and got[2]["target"] == "< 5 s" and got[2]["verdict"] == "met"
    )
    assert got[2]["raw"] == "parse + summarize: 3.10 s"  # an absolute figure: no denominator
    assert got[3]["target"] == "-" and got[3]["verdict"] == "(no target)"


def test_table_lists_every_ratio_and_the_failed_script(results):
    text = bench.table(results)
    lines = text.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("[1] tuned / seed") and "MISSED" in lines[0]
    assert lines[-1] == "[!] consumer: FAILED (exit code 1)"


def test_markdown_explains_only_missed_targets(results):
    why = {1: {"why": "Werkzeug flushes per request.", "fix": "Use gunicorn."},
           7: {"why": "never shown: met", "fix": "nothing"}, "fixes": "Cached the join.",
           "scaling": "Two cores, all busy."}  # fmt: skip
    doc = bench.markdown(
        results, "python -m harness bench --quick", "2026-11-25T13:00:00+00:00", why
    )
    assert "- command: `python -m harness bench --quick`" in doc
    assert "- date: 2026-11-25T13:00:00+00:00" in doc
    assert "box, 2 CPUs (AMD EPYC)" in doc and "Apache Kafka 4.1.1" in doc
    assert "kafka-python 3.0.12" in doc and "gunicorn None" not in doc
    assert "api 3.5 -> 4.2" in doc  # load averages recorded per benchmark
    assert "| 1 | tuned / seed | 2.58 x | >= 10 | **MISSED** |" in doc
    assert "| 7 | parse + summarize 1M lines | 3.10 s | < 5 s | met |" in doc
    assert "### Item 1\n\n- tuned / seed = 2.58 x (target >= 10)" in doc
    assert doc.count("Werkzeug flushes per request.") == 1
    assert "Use gunicorn." in doc
    assert "### Item 2\n\n- full / noop = 0.54 x (target >= 0.7)" in doc
    assert "not analysed yet" in doc
    assert "never shown: met" not in doc
    assert "## Fixed after profiling, and what moved\n\nCached the join." in doc
    assert "where it flattens, and why\n\nTwo cores, all busy." in doc
    assert "| full | 800 | events/s | 800, 812, 790 |" in doc  # every raw run listed
    assert "### consumer: FAILED (exit code 1)" in doc and "Traceback: boom" in doc


def test_markdown_says_when_every_target_was_met(results):
    met_only = [r for r in results if r["benchmark"] == "analysis"]
    doc = bench.markdown(met_only, "cmd", "now", {"scaling": "not shown without scaling"})
    assert "Every target was met in this run." in doc
    assert "## Profiles" not in doc and "## Fixed after profiling" not in doc
    assert "not shown without scaling" not in doc


def test_profiles_are_rendered_when_a_result_carries_them(results):
    prof = {"tool": "py-spy", "samples": 1234, "target": "API workers, full path",
            "by_package": {"kafka-python": 0.41, "flask/werkzeug": 0.2},
            "top_self": [["send (kafka/producer/kafka.py)", 0.123]],
            "ours_inclusive": [["publish (app/delivery.py)", 0.05]]}  # fmt: skip
    results.append(result("profile", {}, [], profiles={"full path": prof}))
    doc = bench.markdown(results, "cmd", "now", {})
    assert "### full path" in doc and "py-spy, 1,234 samples" in doc
    assert "| kafka-python | 41% |" in doc
    assert "| send (kafka/producer/kafka.py) | 12.3% |" in doc
    assert "| publish (app/delivery.py) | 5.0% |" in doc


def test_select_defaults_and_rejects_unknown_names():
    assert [b.name for b in bench.select(None)][:2] == ["api", "producer"]
    assert [b.name for b in bench.select("analysis,api")] == ["analysis", "api"]
    with pytest.raises(SystemExit, match="unknown benchmark"):
        bench.select("api,nope")


def test_script_command_passes_the_shared_broker_only_to_kafka_scripts(tmp_path):
    cmd = bench.script_command(bench.BY_NAME["api"], tmp_path / "a.json", True, "127.0.0.1:9")
    assert "--quick" in cmd and cmd[1].endswith("benchmarks/bench_api.py")
    assert cmd[cmd.index("--bootstrap-servers") + 1] == "127.0.0.1:9"
    cmd = bench.script_command(bench.BY_NAME["analysis"], tmp_path / "b.json", False, "127.0.0.1:9")
    assert "--bootstrap-servers" not in cmd and "--quick" not in cmd
    assert cmd[cmd.index("--json") + 1] == str(tmp_path / "b.json")


def test_the_shipped_analysis_file_loads_with_integer_items():
    why = bench.load_why()
    assert {1, 2, 7} <= set(why) and all(why[i]["why"] and why[i]["fix"] for i in (1, 2, 7))


def test_render_rewrites_the_doc_from_a_finished_run(results, tmp_path):
    import argparse
    import json

    for r in results:
        (tmp_path / f"{r['benchmark']}.json").write_text(json.dumps(r))
    (tmp_path / "run.json").write_text(json.dumps(
        {"command": "python -m harness bench --quick", "duration_s": 512, "finished_at": "then"}))  # fmt: skip
    args = argparse.Namespace(only=None, render=str(tmp_path), no_doc=True, doc=None)
    assert bench.cmd_bench(args) == 0
    doc = (tmp_path / "BENCHMARKS.md").read_text()
    assert "- command: `python -m harness bench --quick` (took 512 s in all)" in doc
    assert "- date: then" in doc
    assert doc.index("### api: api title") < doc.index(
        "### analysis: analysis title"
    )  # bench order
    assert "### consumer: FAILED (exit code 1)" in doc
