"""A lean keep-alive HTTP/1.1 client that POSTs bodies, over plain asyncio protocols.

aiohttp's client spends ~300 us of CPU per request on the 2-core reference machine, CPU taken from
the server under test (benchmarks/bench_simulator.py measures it). This client does only what the
simulator needs: one POST at a time per connection, connections reused, responses framed by
Content-Length, chunked encoding, or the server closing the connection.
"""

from __future__ import annotations

import asyncio
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
        lines = bytes(self.buf[:end]).split(b"\r\n")
        del self.buf[: end + 4]
        parts = lines[0].split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise HttpProtocolError(f"bad status line {lines[0][:80]!r}")
        status = int(parts[1])
        if 100 <= status < 200:
            return True  # informational (100 Continue): the real answer follows
        self.status = status
        self.keep_alive = parts[0] != b"HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self._header(name.strip().lower(), value.strip().lower())
        if status in (204, 304):
            self.length = 0
        return True

    def _header(self, name: bytes, value: bytes) -> None:
        if name == b"content-length":
            if not value.isdigit():
                raise HttpProtocolError(f"bad Content-Length {value[:40]!r}")
            self.length = int(value)
        elif name == b"transfer-encoding":
            self.chunked = value.endswith(b"chunked")
        elif name == b"connection":
            if b"close" in value:
                self.keep_alive = False
            elif b"keep-alive" in value:
                self.keep_alive = True

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


class HttpConnection(asyncio.Protocol):
    """One connection; one request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = ResponseParser()
        self.waiter: asyncio.Future | None = None
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

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.parser = ResponseParser()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class RawHttpClient:
    """POSTs to one URL over a LIFO pool of keep-alive connections (one per concurrent request)."""

    def __init__(self, url: str, headers: dict[str, str], timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"only http(s) URLs are supported, not {url!r}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.timeout_s = timeout_s
        lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode()
        self.idle: list[HttpConnection] = []

    async def _connection(self) -> HttpConnection:
        while self.idle:
            conn = self.idle.pop()
            if conn.reusable:
                return conn
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(HttpConnection, self.host, self.port, ssl=self.ssl)
        return conn

    async def post(self, body: bytes) -> tuple[int, bytes]:
        request = b"%s%d\r\n\r\n%s" % (self.head, len(body), body)
        conn = None
        try:
            async with asyncio.timeout(self.timeout_s):
                conn = await self._connection()
                answer = await conn.exchange(request)
        except BaseException:
            if conn is not None:
                conn.close()  # its answer may still come: never reuse it
            raise
        if conn.reusable:
            self.idle.append(conn)
        else:
            conn.close()
        return answer

    async def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()
