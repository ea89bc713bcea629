"""A test API of known capacity: it answers POST /register_event at most `--rate` times a second.

    python tests/capacity_app.py --port 8123 --rate 300 [--service-ms 5]

Admission is one slot every 1/rate seconds: a request starts at the later of its arrival and the
previous request's slot plus 1/rate, then takes `--service-ms` (served concurrently). Below the
rate no request waits; above it the wait grows without bound. Slots are absolute times on the
event loop's clock, so a late wake-up delays one answer but never lowers the capacity: it is the
rate by construction. GET /healthz answers 200 once the server listens.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web


class Pacer:
    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_free = 0.0

    def slot(self, now: float) -> float:
        start = max(now, self.next_free)
        self.next_free = start + self.interval
        return start


def build_app(rate: float, service_s: float) -> web.Application:
    pacer = Pacer(rate)

    async def register(request: web.Request) -> web.Response:
        await request.read()
        loop = asyncio.get_running_loop()
        start = pacer.slot(loop.time())
        await asyncio.sleep(start + service_s - loop.time())
        return web.json_response({"status": "accepted"}, status=201)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/register_event", register)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rate", type=float, required=True, help="requests/s admitted at most")
    p.add_argument("--service-ms", type=float, default=5.0)
    args = p.parse_args()
    web.run_app(build_app(args.rate, args.service_ms / 1000), host="127.0.0.1", port=args.port,
                access_log=None, print=None)  # fmt: skip


if __name__ == "__main__":
    main()
