"""A real sweep from the command line (real broker, API, consumer, Jupyter kernels): what its
terminal shows, and its report.html rendered in headless Chromium at 1280 px as a reader sees it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from harness.cli import main
from harness.paths import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
VIEWPORT = {"width": 1280, "height": 900}
SCREENSHOT = "report-1280.png"

pytestmark = [pytest.mark.kafka, pytest.mark.notebooks]


@pytest.fixture(scope="module")
def sweep(kafka, tmp_path_factory):
    """`python -m harness sweep` over four points of 2,000 events each, as a new user tries it
    first (the auto warm-up leaves each a measured window), and the seed-style baseline:
    (dir, terminal)."""
    out = tmp_path_factory.mktemp("report-sweep")
    command = [
        sys.executable, "-m", "harness", "sweep", "--out", str(out),
        "--set", "server=[granian, gunicorn]", "--set", "threads=[50, 200]",
        "--set", "events=2000",
        "--set", "extra_points=[{label: seed-style, server: werkzeug, delivery: flush}]",
    ]  # fmt: skip
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers}
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    terminal = done.stdout + done.stderr
    assert done.returncode == 0, terminal[-3000:]
    return out, terminal


def test_a_sweep_of_2000_events_a_point_gives_figures_and_names_its_best_setting(sweep):
    out, _ = sweep
    points = pd.read_csv(out / "points.csv")
    assert len(points) == 5 and (points["status"] == "ok").all()
    assert points["throughput_eps"].notna().all() and points["latency_ms.http.p99"].notna().all()
    html = (out / "report.html").read_text()
    first_screen = html[: html.index("Every setting at a glance")]
    assert "The best setting under the objective" in first_screen
    assert "No point succeeded" not in html and "had NO MEASURED WINDOW" not in html


def test_the_sweep_terminal_has_no_kernel_tcp_warning(sweep):
    _, terminal = sweep
    assert "without encryption" not in terminal
    assert "report: " in terminal


def test_the_sweep_terminal_prints_a_result_line_per_point(sweep):
    out, terminal = sweep
    points = pd.read_csv(out / "points.csv")
    lines = terminal.replace("\r", "\n").splitlines()
    for point in points["point"]:
        results = [ln for ln in lines if ln.startswith(point) and "events/s" in ln]
        assert len(results) == 1, (point, terminal[-2000:])
        assert "http p99" in results[0] and "lost 0" in results[0]


@pytest.mark.browser
@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (make setup installs it with apt)",
)
def test_the_report_reads_at_1280_px(sweep, artifacts_dir):
    from playwright.sync_api import sync_playwright

    out, _ = sweep
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto((out / "report.html").as_uri())
            page.wait_for_load_state("load")
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
            )
            widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            summary = page.evaluate(
                "(document.querySelector('p.report-summary') || {}).innerText || ''"
            )
            page.screenshot(path=str(artifacts_dir / SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert len(images) >= 5 and all(done and w > 100 and h > 100 for done, w, h in images), images
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
    assert summary.startswith("The best setting under the objective") or summary.startswith("No ")
    assert "seed-style baseline" in summary
    assert (artifacts_dir / SCREENSHOT).stat().st_size > 10_000


def test_harness_report_renders_the_report_of_a_sweep_again(sweep):
    """`python -m harness report DIR` (docs/CONTRACTS.md) re-renders report.html, with the
    objective it is given."""
    out, _ = sweep
    report = out / "report.html"
    report.unlink()
    done = subprocess.run([sys.executable, "-m", "harness", "report", str(out),
                           "--p99-objective-ms", "123"], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == f"report: {report}"
    html = report.read_text()
    assert "123 ms" in html and "<table" in html and "Traceback" not in html


def test_harness_report_refuses_a_directory_that_is_not_a_sweep(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "has no summary.csv" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no kernel ran, nothing written
