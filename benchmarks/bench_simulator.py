"""How fast is the load simulator? Its ceiling against a no-op API vs wrk's, in the same run.

    .venv/bin/python benchmarks/bench_simulator.py [--repeats 3] [--duration 10] [--endpoint single]
        [--variants raw,aiohttp] [--quick] [--json PATH]

Serves the API with `--delivery noop` under gunicorn (or, when the API cannot start, a minimal
gunicorn + Flask no-op app), then alternates wrk (`-t2 -c200`, a Lua script POSTing a JSON event)
and the simulator variants (200 senders; `raw` = the lean HTTP client, `aiohttp` = aiohttp's
client) against the same endpoint (several generators: benchmarks/bench_generators.py). Prints the machine, the
medians of requests/s, each client's CPU per request, and the ratio simulator/wrk (target >= 0.7:
the simulator must not be what limits a run). Needs `wrk` (scripts/install-system-deps.sh).
`--quick`: the default client (`raw`, one process) only, 5 s per wrk run.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from flask import Flask, jsonify, request

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from figures import Figures, add_runner_flags  # noqa: E402

from harness.ports import free_port  # noqa: E402
from harness.processes import ManagedProcess  # noqa: E402
from harness.simulator import SimulatorConfig, simulate  # noqa: E402

# ------------------------------------------------------------------ the fallback no-op app

noop_app = Flask("noop")


@noop_app.post("/register_event")
def _noop_single():
    request.get_json()
    return jsonify(status="ok")


@noop_app.post("/events")
def _noop_batch():
    events = request.get_json()
    results = [{"index": i, "status": "accepted"} for i in range(len(events))]
    return jsonify(accepted=len(events), rejected=0, results=results)


# ------------------------------------------------------------------ servers


def api_noop_cmd(port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "app.producer", "--delivery", "noop", "--port", str(port),
            "--workers", str(workers), "--log-level", "warning"]  # fmt: skip


def fallback_cmd(port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--chdir", str(Path(__file__).parent),
            "-w", str(workers), "-k", "gthread", "--threads", "32", "--keep-alive", "30",
            "--backlog", "2048", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
            "bench_simulator:noop_app"]  # fmt: skip


def wait_serving(proc: ManagedProcess, port: int, path: str, timeout: float = 30.0) -> bool:
    """True once a POST to `path` answers 2xx; False when the process died or time ran out."""
    body = orjson.dumps([probe_event()] if path == "/events" else probe_event())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.running():
            return False
        try:
            status = post_status(port, path, body)
            if 200 <= status < 300:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def post_status(port: int, path: str, body: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")  # fmt: skip
        sock.sendall(head.encode() + body)
        return int(sock.recv(64).split()[1])


def start_server(workers: int, path: str, log_dir: Path) -> tuple[ManagedProcess, str, str]:
    """The API in noop mode if it serves, else the fallback app: (process, url, which)."""
    for which, make in (("app.producer --delivery noop", api_noop_cmd), ("fallback", fallback_cmd)):
        port = free_port()
        proc = ManagedProcess(
            which, make(port, workers), log_dir / f"{make.__name__}.log", cwd=ROOT
        )
        proc.start()
        if wait_serving(proc, port, path):
            return proc, f"http://127.0.0.1:{port}", which
        print(f"[{which} did not serve; log tail:]\n{proc.log_tail(10)}", file=sys.stderr)
        proc.stop()
    raise RuntimeError("no no-op server could be started")


# ------------------------------------------------------------------ the two clients


def probe_event(seq: int = 0) -> dict:
    return {"event": "signup", "user_id": 1, "event_id": f"wrk-{seq}", "sent_at": time.time()}


def wrk_script(path: str, batch: int, out: Path) -> Path:
    doc = [probe_event(i) for i in range(batch)] if path == "/events" else probe_event()
    lua = out / "post.lua"
    body = orjson.dumps(doc).decode().replace("\\", "\\\\").replace('"', '\\"')
    lua.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = "{body}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return lua


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_wrk(url: str, lua: Path, connections: int, duration: int, log_dir: Path) -> dict:
    log = log_dir / "wrk.log"
    log.unlink(missing_ok=True)
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "-s", str(lua), url]
    cpu0 = cpu_seconds(resource.RUSAGE_CHILDREN)
    proc = ManagedProcess("wrk", cmd, log).start()
    try:
        proc.proc.wait(timeout=duration + 30)  # reaped here, so its CPU time counts below
    finally:
        proc.stop()
    cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - cpu0
    text = log.read_text()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    if not (rate and total):
        raise RuntimeError(f"wrk printed no rate:\n{text}")
    if "Non-2xx" in text or "Socket errors" in text:
        print(f"  (wrk saw errors: {' '.join(text.split()[-12:])})", file=sys.stderr)
    return {"rps": float(rate.group(1)), "cpu_us": cpu / int(total.group(1)) * 1e6}


def run_simulator(
    url: str, endpoint: str, batch: int, threads: int, events: int, variant: str = "raw"
) -> dict:
    """variant: the HTTP client, raw or aiohttp."""
    cfg = SimulatorConfig(url=url, events=events, threads=threads, endpoint=endpoint,
                          events_per_request=batch, http_client=variant)  # fmt: skip
    cpu0 = cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN)
    result = simulate(cfg, out_dir=None, progress=False)
    # Building the records counts too.
    cpu = cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN) - cpu0
    if result.failed or result.rejected:
        print(f"  (simulator: {result.failed} failed, {result.rejected} rejected)", file=sys.stderr)
    return {"rps": result.achieved_rps, "cpu_us": cpu / cfg.requests * 1e6,
            "p50": result.latency_ms["p50"], "p99": result.latency_ms["p99"]}  # fmt: skip


# ------------------------------------------------------------------ report


def machine() -> dict:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    import aiohttp

    return {"hostname": socket.gethostname(), "cpu_count": os.cpu_count(), "cpu_model": model,
            "python": platform.python_version(), "aiohttp": aiohttp.__version__,
            "wrk": wrk.strip()}  # fmt: skip


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="simulator ceiling vs wrk against a no-op API")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    p.add_argument("--connections", type=int, default=200, help="wrk -c and simulator threads")
    p.add_argument("--endpoint", choices=("single", "batch"), default="single")
    p.add_argument("--events-per-request", type=int, default=100)
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    p.add_argument("--variants", default="raw,aiohttp", help="simulator variants: http clients")
    add_runner_flags(p, "variant raw only, 5 s per wrk run")
    args = p.parse_args(argv)
    if args.quick:
        args.variants, args.duration = "raw", 5
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is missing: run scripts/install-system-deps.sh", file=sys.stderr)
        return 2

    figs = Figures("simulator", "Load simulator vs wrk against the no-op API", vars(args))
    path = "/events" if args.endpoint == "batch" else "/register_event"
    batch = args.events_per_request if args.endpoint == "batch" else 1
    clients = args.variants.split(",")
    info = machine()
    figs.data["libraries"]["wrk"] = info["wrk"]
    print("machine:", info)
    runs: dict[str, list[dict]] = {name: [] for name in ["wrk", *clients]}
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        out = Path(tmp)
        server, url, which = start_server(args.workers, path, out)
        try:
            setup = (f"server: {which}, {args.workers} gunicorn workers, {args.connections} "
                     f"connections, endpoint {path}"
                     + (f" ({batch} events/request)" if batch > 1 else ""))  # fmt: skip
            print(setup)
            figs.note(setup)
            lua = wrk_script(path, batch, out)
            # Size the simulator's runs to take about as long as wrk's, from a short trial.
            trial = run_simulator(url, args.endpoint, batch, args.connections, 2000 * batch)
            events = max(2000, int(trial["rps"] * args.duration)) * batch
            for rep in range(args.repeats):  # interleaved: background load hits all alike
                runs["wrk"].append(run_wrk(url + path, lua, args.connections, args.duration, out))
                for name in clients:
                    runs[name].append(
                        run_simulator(url, args.endpoint, batch, args.connections, events, name)
                    )
                print(f"rep {rep + 1}: " + "   ".join(
                    f"{name} {r[-1]['rps']:6.0f} req/s" for name, r in runs.items()), flush=True)  # fmt: skip
        finally:
            server.stop()
    report(runs, batch, args.repeats, figs)
    figs.finish(args.json)
    return 0


def report(runs: dict[str, list[dict]], batch: int, repeats: int, figs: Figures) -> None:
    print(f"medians of {repeats} (requests/s; client CPU per request):")
    for name, results in runs.items():
        rps = figs.runs(name, [r["rps"] for r in results], "requests/s")
        cpu = figs.runs(f"{name} client CPU", [r["cpu_us"] for r in results], "CPU-us/request")
        line = f"  {name:8s} {rps:7.0f} req/s ({rps * batch:7.0f} events/s)  cpu {cpu:6.1f} us/req"
        if name != "wrk":
            p99 = figs.runs(f"{name} p99", [r["p99"] for r in results], "ms")
            line += f"  p99 {p99:6.1f} ms  ratio to wrk {rps / figs.median('wrk'):.2f}"
            target = 0.7 if name == "raw" else None  # the default client is the one that counts
            figs.ratio(f"simulator ({name}) / wrk, same no-op endpoint", 5, name, "wrk", target)
        print(line)


if __name__ == "__main__":
    sys.exit(main())
