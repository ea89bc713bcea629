"""A lean keep-alive HTTP/1.1 client that POSTs bodies, over plain asyncio protocols.

aiohttp's client spends ~300 us of CPU per request on the 2-core reference machine, CPU taken from
the server under test (benchmarks/bench_simulator.py measures it). This client does only what the
simulator needs: one POST at a time per connection, connections reused, responses framed by
Content-Length, chunked encoding, or the server closing the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024


class HttpProtocolError(Exception):
    """The server's answer is not HTTP/1.x as we can read it."""


class ServerDisconnectedError(ConnectionError):
    """The server closed the connection before its answer was complete."""


class ResponseParser:
    """Incremental parser for one response; `feed` returns True once it is complete."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.status: int | None = None
        self.length: int | None = None
        self.chunked = False
        self.keep_alive = True
        self.body = bytearray()

    def feed(self, data: bytes) -> bool:
        self.buf += data
        while self.status is None:
            if not self._read_head():
                return False
        if self.chunked:
            return self._read_chunks()
        if self.length is not None:
            return len(self.buf) >= self.length
        return False  # framed by the connection closing

    def payload(self) -> bytes:
        if self.chunked:
            return bytes(self.body)
        return bytes(self.buf if self.length is None else self.buf[: self.length])

    def _read_head(self) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD_BYTES:
                raise HttpProtocolError("response head too large")
            return False
        head = bytes(self.buf[: end + 2]).lower()  # keep the last CRLF: every header ends in one
        del self.buf[: end + 4]
        line_end = head.find(b"\r\n")
        parts = head[:line_end].split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"http/1.") or not parts[1].isdigit():
            raise HttpProtocolError(f"bad status line {head[:line_end][:80]!r}")
        status = int(parts[1])
        if 100 <= status < 200:
            return True  # informational (100 Continue): the real answer follows
        self.status = status
        # Only three headers matter; finding them beats splitting every line.
        length = _header(head, b"\r\ncontent-length:")
        if length is not None:
            if not length.isdigit():
                raise HttpProtocolError(f"bad Content-Length {length[:40]!r}")
            self.length = int(length)
        encoding = _header(head, b"\r\ntransfer-encoding:")
        self.chunked = encoding is not None and encoding.endswith(b"chunked")
        connection = _header(head, b"\r\nconnection:")
        if connection is None:
            self.keep_alive = parts[0] != b"http/1.0"
        else:
            self.keep_alive = b"close" not in connection and (
                parts[0] != b"http/1.0" or b"keep-alive" in connection
            )
        if status in (204, 304):
            self.length = 0
        return True

    def _read_chunks(self) -> bool:
        while True:
            line_end = self.buf.find(b"\r\n")
            if line_end < 0:
                return False
            try:
                size = int(bytes(self.buf[:line_end]).split(b";")[0], 16)
            except ValueError:
                raise HttpProtocolError("bad chunk size") from None
            if size == 0:
                # The last chunk, then optional trailers, then an empty line.
                return self.buf.find(b"\r\n\r\n", line_end) >= 0
            start, stop = line_end + 2, line_end + 2 + size
            if len(self.buf) < stop + 2:
                return False
            self.body += self.buf[start:stop]
            del self.buf[: stop + 2]


def _header(head: bytes, name: bytes) -> bytes | None:
    """The stripped value of header `name` (given as CRLF + lowercase name + colon) in `head`."""
    start = head.find(name)
    if start < 0:
        return None
    start += len(name)
    return head[start : head.find(b"\r\n", start)].strip()


class HttpConnection(asyncio.Protocol):
    """One connection; one request at a time (no pipelining)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = ResponseParser()
        self.waiter: asyncio.Future | None = None
        self.deadline = math.inf  # loop time by which the pending answer must be complete
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            self.close()  # bytes nobody asked for: the connection's state is unknown
            return
        try:
            complete = self.parser.feed(data)
        except HttpProtocolError as exc:
            waiter.set_exception(exc)
            self.close()
            return
        if complete:
            waiter.set_result((self.parser.status, self.parser.payload()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        parser = self.parser
        if parser.status is not None and parser.length is None and not parser.chunked:
            waiter.set_result((parser.status, parser.payload()))  # body ended by the close
        else:
            waiter.set_exception(
                ServerDisconnectedError(str(exc or "server closed the connection"))
            )

    @property
    def reusable(self) -> bool:
        return not self.closed and self.parser.keep_alive

    async def exchange(self, request: bytes, deadline: float) -> tuple[int, bytes]:
        self.parser = ResponseParser()
        self.waiter = self.loop.create_future()
        self.deadline = deadline
        self.transport.write(request)
        try:
            return await self.waiter
        finally:
            self.deadline = math.inf

    def expire(self, timeout_s: float) -> None:
        """Fails the pending request: the answer did not come in time."""
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(TimeoutError(f"no answer within {timeout_s:g} s"))
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class RawHttpClient:
    """POSTs to one URL over a LIFO pool of keep-alive connections (one per concurrent request).

    Timeouts come from one watchdog task that scans the busy connections a few times a second:
    cheaper than a timer per request, and a timeout need not be precise to the millisecond.
    """

    def __init__(self, url: str, headers: dict[str, str], timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"only http(s) URLs are supported, not {url!r}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.timeout_s = timeout_s
        self.tick_s = min(0.1, timeout_s / 4)
        lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode()
        self.idle: list[HttpConnection] = []
        self.busy: set[HttpConnection] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.watchdog: asyncio.Task | None = None

    async def _connect(self, deadline: float) -> HttpConnection:
        async with asyncio.timeout_at(deadline):
            _, conn = await self.loop.create_connection(
                lambda: HttpConnection(self.loop), self.host, self.port, ssl=self.ssl
            )
        return conn

    def _idle_connection(self) -> HttpConnection | None:
        while self.idle:
            conn = self.idle.pop()
            if conn.reusable:
                return conn
        return None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            now = self.loop.time()
            for conn in [c for c in self.busy if c.deadline <= now]:
                conn.expire(self.timeout_s)

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
            self.watchdog = self.loop.create_task(self._watch())
        deadline = self.loop.time() + self.timeout_s
        request = b"%s%d\r\n\r\n%s" % (self.head, len(body), body)
        conn = self._idle_connection() or await self._connect(deadline)
        self.busy.add(conn)
        try:
            answer = await conn.exchange(request, deadline)
        except BaseException:
            conn.close()  # its answer may still come: never reuse it
            raise
        finally:
            self.busy.discard(conn)
        if conn.reusable:
            self.idle.append(conn)
        else:
            conn.close()
        return answer

    async def close(self) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watchdog
            self.watchdog = None
        for conn in self.idle:
            conn.close()
        self.idle.clear()
