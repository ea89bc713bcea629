"""A real sweep from the command line (real broker, API, consumer, Jupyter kernels): what its
terminal shows, and its report.html rendered in headless Chromium at 1280 px as a reader sees it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from harness.paths import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
VIEWPORT = {"width": 1280, "height": 900}
SCREENSHOT = "report-1280.png"

pytestmark = [pytest.mark.kafka, pytest.mark.notebooks]


@pytest.fixture(scope="module")
def sweep(kafka, tmp_path_factory):
    """`python -m harness sweep` over two points and the seed-style baseline: (dir, terminal)."""
    out = tmp_path_factory.mktemp("report-sweep")
    command = [
        sys.executable, "-m", "harness", "sweep", "--out", str(out),
        "--set", "threads=[5, 10]", "--set", "events=300", "--set", "warmup_s=0",
        "--set", "extra_points=[{label: seed-style, server: werkzeug, delivery: flush}]",
    ]  # fmt: skip
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers}
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    terminal = done.stdout + done.stderr
    assert done.returncode == 0, terminal[-3000:]
    return out, terminal


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
