"""The same POST interface over aiohttp's client: slower (see http.py), but a full HTTP stack,
for servers the lean client cannot talk to."""

from __future__ import annotations

import aiohttp


class AiohttpClientError(ConnectionError):
    """An aiohttp error that is not already an OSError or TimeoutError, named in the message."""


class AiohttpClient:
    def __init__(self, url: str, headers: dict[str, str], timeout_s: float, pool: int) -> None:
        self.url = url
        self.headers = headers
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool, limit_per_host=0, ttl_dns_cache=None),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            skip_auto_headers=("User-Agent",),
            auto_decompress=False,
        )

    async def post(self, body: bytes) -> tuple[int, bytes]:
        try:
            async with self.session.post(self.url, data=body, headers=self.headers) as resp:
                return resp.status, await resp.read()
        except (OSError, TimeoutError):
            raise
        except aiohttp.ClientError as exc:
            raise AiohttpClientError(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        await self.session.close()
