"""A tiny HTTP API for the simulator's tests (aiohttp, in an asyncio loop of its own thread, on a
free port): it records every body and header and answers as told."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import orjson
from aiohttp import web

from harness.ports import free_port

BatchAnswer = Callable[[list], tuple[int, dict]]


def all_accepted(events: list) -> tuple[int, dict]:
    results = [
        {"index": i, "event_id": e["event_id"], "status": "accepted"} for i, e in enumerate(events)
    ]
    return 200, {"accepted": len(events), "rejected": 0, "results": results}


class LoopThread:
    """An asyncio loop running in a daemon thread, for servers the test talks to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def __enter__(self) -> LoopThread:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RecordingServer:
    """A tiny API: records every body and header, counts requests in flight, answers as told."""

    def __init__(
        self,
        delay_s: float = 0.0,
        serial: bool = False,
        status: int = 200,
        batch_answer: BatchAnswer = all_accepted,
    ) -> None:
        self.delay_s = delay_s
        self.serial = serial
        self.status = status
        self.batch_answer = batch_answer
        self.bodies: list = []
        self.headers: list[dict] = []
        self.received_at: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    async def _serve(self, request: web.Request) -> object:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.serial:
                async with self._lock:
                    await asyncio.sleep(self.delay_s)
            elif self.delay_s:
                await asyncio.sleep(self.delay_s)
            doc = orjson.loads(await request.read())
            self.bodies.append(doc)
            self.headers.append(dict(request.headers))
            self.received_at.append(asyncio.get_running_loop().time())
            return doc
        finally:
            self.in_flight -= 1

    async def single(self, request: web.Request) -> web.Response:
        await self._serve(request)
        return web.json_response({"status": "ok"}, status=self.status)

    async def batch(self, request: web.Request) -> web.Response:
        events = await self._serve(request)
        if self.status != 200:
            return web.json_response({"error": "told to fail"}, status=self.status)
        status, answer = self.batch_answer(events)
        return web.json_response(answer, status=status)

    async def start(self) -> None:
        self._lock = asyncio.Lock()
        app = web.Application()
        app.router.add_post("/register_event", self.single)
        app.router.add_post("/events", self.batch)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, backlog=1024).start()

    async def stop(self) -> None:
        await self.runner.cleanup()


def serving(loop_thread: LoopThread) -> Iterator[Callable[..., RecordingServer]]:
    """The body of a `serve` fixture: serve(**behaviour) -> a started RecordingServer, each one
    stopped when the fixture ends."""
    servers = []

    def start(**kwargs) -> RecordingServer:
        server = RecordingServer(**kwargs)
        loop_thread.run(server.start())
        servers.append(server)
        return server

    yield start
    for server in servers:
        loop_thread.run(server.stop())


def reject_odd_users(events: list) -> tuple[int, dict]:
    results = []
    for i, e in enumerate(events):
        ok = e["user_id"] % 2 == 0
        entry = {"index": i, "event_id": e["event_id"], "status": "accepted" if ok else "rejected"}
        if not ok:
            entry["error"] = "odd user"
        results.append(entry)
    return 207, {"results": results}
