"""A local stand-in for `vllm serve`: its OpenAI-compatible API, streaming a fixed reply.

It answers what Skald's remote engine asks (engine/remote.py): /health, /v1/models,
/tokenize and streamed /v1/chat/completions as server-sent events, the way vLLM sends
them (content deltas, a finish reason, then a usage chunk and `data: [DONE]`). It runs
its own event loop in a thread, so tests that drive other processes can use it too.
Started with `api_key`, it guards the /v1 paths as `vllm serve --api-key` does: 401
without the right `Authorization: Bearer` header.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MODEL = "fake/skald-test-model"
REPLY = "A lantern swings over the harbour, and the keeper climbs the stairs once more."


class FakeOpenAI:
    """A fake vLLM server on a free local port; every chat completion streams `reply`."""

    def __init__(
        self, reply: str = REPLY, max_model_len: int = 4096, api_key: str | None = None
    ) -> None:
        self.reply = reply
        self.max_model_len = max_model_len
        self.api_key = api_key
        # Every chat-completions request body, in order.
        self.requests: list[dict[str, Any]] = []
        # Every /tokenize request body, in order.
        self.tokenize_requests: list[dict[str, Any]] = []
        # (path, the bearer token sent or None) of every request, in order.
        self.bearers: list[tuple[str, str | None]] = []
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-openai")
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL, as `engine.urls` takes it."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen (returns once the port is open)."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    def close(self) -> None:
        """Stop listening and end the thread."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_get("/health", self._health)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/tokenize", self._tokenize)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = int(server.sockets[0].getsockname()[1])

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Record the bearer token; refuse /v1 paths without the key, as vLLM does."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        bearer = token if scheme.lower() == "bearer" else None
        self.bearers.append((request.path, bearer))
        if self.api_key is not None and request.path.startswith("/v1") and bearer != self.api_key:
            return web.json_response({"error": "Unauthorized"}, status=401)
        return await handler(request)

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response()

    async def _models(self, request: web.Request) -> web.Response:
        model = {"id": MODEL, "object": "model", "max_model_len": self.max_model_len}
        return web.json_response({"object": "list", "data": [model]})

    async def _tokenize(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.tokenize_requests.append(body)
        words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        count = words + 4 * len(body.get("messages", []))
        return web.json_response({"count": count, "max_model_len": self.max_model_len})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        words = self.reply.split(" ")
        # vLLM stops at max_tokens with finish_reason "length"; one word stands for a token.
        limit = max(1, int(body.get("max_tokens") or len(words)))
        finish = "length" if limit < len(words) else "stop"
        words = words[:limit]
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk_id = f"chatcmpl-{next(self._ids)}"
        created = int(time.time())

        async def send(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> None:
            chunk = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": MODEL,
                "choices": choices,
                "usage": usage,
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        for i, word in enumerate(words):
            delta = {"role": "assistant", "content": word} if i == 0 else {"content": " " + word}
            done = finish if i == len(words) - 1 else None
            await send([{"index": 0, "delta": delta, "finish_reason": done}])
        prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        completion = len(words)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        await send([], usage)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
