"""The simulator's lean HTTP/1.1 client: response framing, keep-alive, errors."""

from __future__ import annotations

import asyncio

import pytest

from harness.loadgen.http import (
    HttpProtocolError,
    RawHttpClient,
    ResponseParser,
    ServerDisconnectedError,
)
from harness.ports import free_port

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


def feed_bytewise(raw: bytes) -> tuple[ResponseParser, int]:
    """Feeds one byte at a time; returns the parser and how many bytes it took to complete."""
    parser = ResponseParser()
    for i in range(len(raw)):
        if parser.feed(raw[i : i + 1]):
            return parser, i + 1
    return parser, -1


def test_content_length_framing_in_pieces():
    raw = HEAD + b'Content-Length: 11\r\n\r\n{"ok": true}'
    parser, used = feed_bytewise(raw)
    assert used == len(raw) - 1  # complete at the 11th body byte; the 12th is extra
    assert (parser.status, parser.payload(), parser.keep_alive) == (200, b'{"ok": true', True)


def test_chunked_body_with_extension_and_trailer():
    raw = (
        b"HTTP/1.1 207 Multi-Status\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    parser, used = feed_bytewise(raw)
    assert used == len(raw)
    assert (parser.status, parser.payload()) == (207, b"hello world")


def test_chunked_body_without_trailer():
    parser = ResponseParser()
    assert not parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    assert parser.feed(b"0\r\n\r\n")
    assert parser.payload() == b"abc"


def test_informational_response_is_skipped():
    parser = ResponseParser()
    assert parser.feed(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    )
    assert parser.status == 201


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n", False),
        (b"HTTP/1.0 200 OK\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n", True),
        (b"HTTP/1.1 200 OK\r\n", True),
    ],
)
def test_keep_alive_follows_version_and_connection_header(head, keep_alive):
    parser = ResponseParser()
    assert parser.feed(head + b"Content-Length: 0\r\n\r\n")
    assert parser.keep_alive is keep_alive


def test_no_content_needs_no_length():
    assert ResponseParser().feed(b"HTTP/1.1 204 No Content\r\n\r\n")


def test_body_without_framing_waits_for_close():
    parser = ResponseParser()
    assert not parser.feed(b"HTTP/1.1 200 OK\r\n\r\nsome body")
    assert parser.payload() == b"some body"


@pytest.mark.parametrize(
    "raw",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_garbage_is_a_protocol_error(raw):
    with pytest.raises(HttpProtocolError):
        ResponseParser().feed(raw)


def test_endless_head_is_a_protocol_error():
    with pytest.raises(HttpProtocolError):
        ResponseParser().feed(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000)


class ScriptedServer:
    """A raw TCP server: answers each request with the next scripted reply; logs connections."""

    def __init__(self, replies: list[bytes], close_after: bool = False) -> None:
        self.replies = list(replies)
        self.close_after = close_after
        self.requests: list[bytes] = []
        self.connections = 0
        self.port = free_port()

    async def _handle(self, reader, writer) -> None:
        self.connections += 1
        try:
            if not self.replies:
                await reader.read()  # say nothing until the client hangs up
            while self.replies:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                self.requests.append(head + await reader.readexactly(length))
                writer.write(self.replies.pop(0))
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc):
        self.server.close()


def ok(body: bytes = b"{}", extra: bytes = b"") -> bytes:
    return HEAD + extra + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def test_client_reuses_one_connection_and_sends_headers():
    async def scenario():
        async with ScriptedServer([ok(b"1"), ok(b"2"), ok(b"3")]) as server:
            url = f"http://127.0.0.1:{server.port}/events"
            client = RawHttpClient(url, {"Content-Type": "application/json", "X-API-Key": "k"}, 5)
            answers = [await client.post(b'{"n": %d}' % i) for i in range(3)]
            await client.close()
            return server, answers

    server, answers = asyncio.run(scenario())
    assert answers == [(200, b"1"), (200, b"2"), (200, b"3")]
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /events HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nX-API-Key: k\r\n" in first and b"\r\nContent-Length: 8\r\n" in first
    assert first.endswith(b'\r\n\r\n{"n": 0}')


def test_connection_close_answer_opens_a_new_connection():
    async def scenario():
        replies = [ok(b"a", b"Connection: close\r\n"), ok(b"b", b"Connection: close\r\n")]
        async with ScriptedServer(replies, close_after=True) as server:
            client = RawHttpClient(f"http://127.0.0.1:{server.port}/", {}, 5)
            answers = [await client.post(b"x"), await client.post(b"y")]
            await client.close()
            return server, answers

    server, answers = asyncio.run(scenario())
    assert answers == [(200, b"a"), (200, b"b")]
    assert server.connections == 2


def test_close_before_the_answer_is_server_disconnected():
    async def scenario():
        async with ScriptedServer([b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\npartial"]) as s:
            client = RawHttpClient(f"http://127.0.0.1:{s.port}/", {}, 5)
            with pytest.raises(ServerDisconnectedError):
                await client.post(b"x")
            assert client.idle == []
            await client.close()

    asyncio.run(scenario())


def test_timeout_raises_and_discards_the_connection():
    async def scenario():
        async with ScriptedServer([]) as server:  # reads nothing, answers nothing
            client = RawHttpClient(f"http://127.0.0.1:{server.port}/", {}, 0.2)
            with pytest.raises(TimeoutError, match="no answer within 0.2 s"):
                await client.post(b"x")
            assert client.idle == [] and client.busy == set()
            await client.close()

    asyncio.run(scenario())


def test_refused_connection_is_an_oserror():
    async def scenario():
        client = RawHttpClient(f"http://127.0.0.1:{free_port()}/", {}, 5)
        with pytest.raises(ConnectionRefusedError):
            await client.post(b"x")

    asyncio.run(scenario())


def test_only_http_urls():
    with pytest.raises(ValueError):
        RawHttpClient("ftp://127.0.0.1/x", {}, 1)
