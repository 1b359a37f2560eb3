"""The remote engine: a fleet of `vllm serve` servers behind their OpenAI-compatible API.

This is how Skald grows past one machine. Each server is a plain `vllm serve` (with vLLM's
own tensor, pipeline or data parallelism behind it as needed); Skald only chooses a server
per request (the one with the least outstanding work), watches each server's /health, and
leaves a failing server out until it answers again. A reply that breaks off mid-stream is
reported as StreamInterrupted, never passed off as complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai

from engine.base import (
    ChatMessage,
    EngineError,
    EngineStatus,
    EngineUnavailable,
    GenerationParams,
    PromptTooLong,
    StreamInterrupted,
    Usage,
)
from engine.settings import API_KEY_VARIABLE, EngineSettings, server_keys, server_root

logger = logging.getLogger(__name__)

# Same rule as the in-process engine: a prompt must leave this much room for the reply.
MIN_REPLY_TOKENS = 64
# vLLM sampling fields a caller may pass through GenerationParams.extra.
_EXTRA_SAMPLING_KEYS = frozenset(
    {"top_k", "min_p", "min_tokens", "presence_penalty", "frequency_penalty", "ignore_eos"}
)
# A health probe must answer quickly: a server that takes longer is treated as down.
HEALTH_TIMEOUT_S = 3.0
# What a chat template may add around the messages (special tokens, a default system
# prompt such as Qwen's or Llama 3's dates), at most, in tokens: see prompt_token_bound.
TEMPLATE_TOKENS = 64
MESSAGE_TOKENS = 8


@dataclass(slots=True)
class Server:
    """One `vllm serve` server and what Skald knows of it."""

    url: str
    client: openai.AsyncOpenAI
    # Its API key (SKALD_ENGINE_API_KEY), sent with every probe and request; never shown.
    api_key: str | None = field(default=None, repr=False)
    healthy: bool = False
    # Requests streaming from it now: the balancing measure.
    outstanding: int = 0
    # Requests it has been given in all (for status and tests).
    served: int = 0
    problem: str = ""
    model: str = ""
    max_model_len: int = 0
    order: int = field(default=0)

    def describe(self) -> str:
        """'http://h:8000 up, 2 running' or 'http://h:8000 down (connection refused)'."""
        if self.healthy:
            return f"{self.url} up, {self.outstanding} running, {self.served} served"
        return f"{self.url} down ({self.problem or 'not checked yet'})"


class RemoteEngine:
    """The Engine protocol over one or many OpenAI-compatible vLLM servers."""

    def __init__(
        self, settings: EngineSettings, progress: Callable[[str], None] | None = None
    ) -> None:
        """Remember the servers; nothing is contacted until start()."""
        if not settings.urls:
            raise EngineUnavailable("the remote engine needs at least one server URL")
        self._settings = settings
        self._progress = progress or (lambda message: logger.info("%s", message))
        try:
            keys = server_keys(len(settings.urls), os.environ.get(API_KEY_VARIABLE))
        except ValueError as exc:
            raise EngineUnavailable(str(exc)) from None
        timeout = openai.Timeout(None, connect=settings.connect_timeout_s)
        self.servers = [
            Server(
                url=server_root(url),
                client=openai.AsyncOpenAI(
                    base_url=server_root(url) + "/v1",
                    # The client insists on a key; a server without --api-key ignores it.
                    api_key=key or "not-needed",
                    # Retries are ours: another server, not the same one again.
                    max_retries=0,
                    timeout=timeout,
                ),
                api_key=key,
                order=i,
            )
            for i, (url, key) in enumerate(zip(settings.urls, keys, strict=True))
        ]
        self._http = httpx.AsyncClient(timeout=HEALTH_TIMEOUT_S)
        self._turn = itertools.count()
        self._watcher: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False

    # -- the fleet --

    @property
    def max_context_tokens(self) -> int:
        """The smallest context of the servers known, else the configured one."""
        known = [s.max_model_len for s in self.servers if s.max_model_len]
        return min(known) if known else self._settings.max_model_len

    def _model(self) -> str:
        for server in self.servers:
            if server.model:
                return server.model
        return self._settings.model

    async def _probe(self, server: Server) -> None:
        """Ask /health (and /v1/models the first time); update the server's state."""
        try:
            response = await self._http.get(server.url + "/health", headers=_auth(server))
            if response.status_code == 404:
                raise EngineError(_not_found("/health"))
            if response.status_code != 200:
                raise EngineError(f"/health answered {response.status_code}")
            if not server.model:
                page = await server.client.models.list(timeout=HEALTH_TIMEOUT_S)
                first = page.data[0]
                server.model = first.id
                # vLLM adds the context length to each model; OpenAI's schema lacks it.
                server.max_model_len = int((first.model_extra or {}).get("max_model_len") or 0)
        except openai.AuthenticationError:
            self._mark_down(server, _refused_key(server))
            return
        except openai.NotFoundError:
            self._mark_down(server, _not_found("/v1/models"))
            return
        except EngineError as exc:
            self._mark_down(server, str(exc))
            return
        except (httpx.HTTPError, openai.APIError, IndexError, ValueError, TypeError) as exc:
            self._mark_down(server, _reason(exc))
            return
        if not server.healthy:
            logger.warning("engine server %s is up", server.url)
        server.healthy, server.problem = True, ""

    def _mark_down(self, server: Server, reason: str) -> None:
        if server.healthy or not server.problem:
            logger.warning("engine server %s is down: %s", server.url, reason)
        server.healthy, server.problem = False, reason

    async def _watch(self) -> None:
        """Probe every server forever: failed ones come back when /health answers again."""
        while True:
            await asyncio.sleep(self._settings.health_interval_s)
            await asyncio.gather(*(self._probe(s) for s in self.servers))

    def _pick(self, tried: set[str], *, take_turn: bool = True) -> Server:
        """The healthy server with the least outstanding work (taking turns on a tie)."""
        candidates = [s for s in self.servers if s.healthy and s.url not in tried]
        if not candidates:
            raise EngineUnavailable(
                "no language model server is answering: "
                + "; ".join(s.describe() for s in self.servers)
            )
        # Only generations take turns: a token count in between must not skew them.
        turn = next(self._turn) if take_turn else 0
        count = len(self.servers)
        return min(candidates, key=lambda s: (s.outstanding, (s.order - turn) % count))

    # -- the Engine protocol --

    async def start(self) -> None:
        """Probe every server; ready once one answers. Safe to call more than once."""
        if self._closed:
            raise EngineUnavailable("the engine has been closed")
        if not self._started:
            self._started = True
            self._progress(
                f"using {len(self.servers)} vLLM server(s): "
                + ", ".join(s.url for s in self.servers)
            )
            await asyncio.gather(*(self._probe(s) for s in self.servers))
            self._watcher = asyncio.create_task(self._watch(), name="skald-engine-health")
        elif not self.is_ready():
            await asyncio.gather(*(self._probe(s) for s in self.servers))
        if not self.is_ready():
            raise EngineUnavailable(
                "no language model server is answering: "
                + "; ".join(s.describe() for s in self.servers)
            )

    def is_ready(self) -> bool:
        """True while at least one server is healthy."""
        return any(s.healthy for s in self.servers)

    def status(self) -> EngineStatus:
        """The fleet: model, load and each server's state."""
        return EngineStatus(
            backend=f"remote ({len(self.servers)} vLLM server{'s' * (len(self.servers) > 1)})",
            model=self._model(),
            ready=self.is_ready(),
            running=sum(s.outstanding for s in self.servers),
            servers=tuple(s.describe() for s in self.servers),
        )

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens of the prompt with the chat template applied, from a server's /tokenize."""
        tried: set[str] = set()
        while True:
            server = self._pick(tried, take_turn=False)
            try:
                response = await self._http.post(
                    server.url + "/tokenize",
                    headers=_auth(server),
                    json={
                        "model": server.model or self._model(),
                        "messages": _messages(messages),
                        "add_generation_prompt": True,
                    },
                )
                response.raise_for_status()
                return int(response.json()["count"])
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                self._mark_down(server, _reason(exc))
                tried.add(server.url)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        usage: Usage | None = None,
    ) -> AsyncIterator[str]:
        """Yield the reply as text deltas; closing the iterator early aborts the request."""
        return self._stream(messages, params, usage or Usage())

    async def _stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, usage: Usage
    ) -> AsyncIterator[str]:
        await self.start()
        if params.max_tokens < 1:
            raise EngineError("max_tokens must be at least 1")
        # 1) Make sure the prompt leaves room for the reply, as the in-process engine does.
        # Most prompts are plainly short enough: then the server's usage report gives the
        # count afterwards, and only a prompt that might not fit costs a /tokenize first.
        context = self.max_context_tokens
        max_tokens = params.max_tokens
        if prompt_token_bound(messages) + params.max_tokens > context:
            prompt_tokens = await self.count_tokens(messages)
            limit = context - max(1, min(params.max_tokens, MIN_REPLY_TOKENS))
            if prompt_tokens > limit:
                raise PromptTooLong(prompt_tokens, limit)
            usage.prompt_tokens = prompt_tokens
            max_tokens = min(params.max_tokens, context - prompt_tokens)
        # 2) Open the stream on the least busy server; one that cannot be reached is left
        # out and the next one tried (nothing has been shown yet, so this is safe).
        tried: set[str] = set()
        while True:
            server = self._pick(tried)
            # Counted as outstanding from the choice on, so requests chosen at the same
            # moment spread over the servers instead of all taking the idle one.
            server.outstanding += 1
            started = time.monotonic()
            try:
                chunks = await server.client.chat.completions.create(
                    **self._request(messages, params, max_tokens, server)
                )
                break
            except (openai.APIConnectionError, openai.InternalServerError) as exc:
                server.outstanding -= 1
                self._mark_down(server, _reason(exc))
                tried.add(server.url)
            except BaseException as exc:
                server.outstanding -= 1
                if isinstance(exc, openai.APIStatusError):
                    raise EngineError(f"the server refused the request: {_reason(exc)}") from exc
                raise
        # 3) Relay the deltas; a stream that breaks or ends without a finish is reported.
        server.served += 1
        finished = False
        try:
            async for chunk in chunks:
                if chunk.usage is not None:
                    usage.prompt_tokens = chunk.usage.prompt_tokens
                    usage.completion_tokens = chunk.usage.completion_tokens
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                delta = choice.delta.content or ""
                if delta:
                    if chunk.usage is None:  # a running count until the final usage chunk
                        usage.completion_tokens += 1
                    if usage.first_token_s is None:
                        usage.first_token_s = time.monotonic() - started
                    yield delta
                if choice.finish_reason is not None:
                    finished = True
            if not finished:
                raise StreamInterrupted(f"{server.url} ended the reply without finishing it")
        except (openai.APIError, httpx.HTTPError) as exc:
            self._mark_down(server, _reason(exc))
            raise StreamInterrupted(f"{server.url} broke off the reply: {_reason(exc)}") from exc
        finally:
            server.outstanding -= 1
            # Closing the connection makes vLLM abort the request (also on early exit).
            with contextlib.suppress(Exception):
                await asyncio.shield(chunks.close())

    def _request(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        max_tokens: int,
        server: Server,
    ) -> dict[str, Any]:
        """The chat-completions arguments for one request."""
        extra: dict[str, Any] = {"repetition_penalty": params.repetition_penalty}
        extra.update({k: v for k, v in params.extra.items() if k in _EXTRA_SAMPLING_KEYS})
        if self._settings.remote_priority:
            extra["priority"] = params.priority
        request: dict[str, Any] = {
            "model": server.model or self._model(),
            "messages": _messages(messages),
            "max_tokens": max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
            "extra_body": extra,
        }
        if params.seed is not None:
            request["seed"] = params.seed
        if params.stop:
            request["stop"] = list(params.stop)
        if params.json_schema is not None:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": params.json_schema},
            }
        return request

    async def close(self) -> None:
        """Stop probing and close the connections (servers abort what we leave)."""
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        for server in self.servers:
            await server.client.close()
        await self._http.aclose()


def prompt_token_bound(messages: Sequence[ChatMessage]) -> int:
    """More tokens than the prompt can take with its chat template applied, without a tokenizer.

    Byte-level BPE (GPT-2, Qwen, Llama 3, SmolLM) never makes more tokens than UTF-8 bytes;
    SentencePiece with byte fallback (Llama 2, Mistral) adds at most one word-start marker
    per word. The template's own tokens are bounded by TEMPLATE_TOKENS and MESSAGE_TOKENS.
    """
    text = sum(len(m.content.encode()) + len(m.content.split()) for m in messages)
    return text + MESSAGE_TOKENS * len(messages) + TEMPLATE_TOKENS


def _auth(server: Server) -> dict[str, str]:
    """The Authorization header vllm serve --api-key wants (none without a key)."""
    return {"Authorization": f"Bearer {server.api_key}"} if server.api_key else {}


def _refused_key(server: Server) -> str:
    """Why a server answered 401, and what to do (the key itself is never shown)."""
    if server.api_key:
        return (
            f"HTTP 401: the server refused the API key; set {API_KEY_VARIABLE} to the key "
            "it was started with (vllm serve --api-key)"
        )
    return (
        f"HTTP 401: the server wants an API key; set {API_KEY_VARIABLE} to the key it "
        "was started with (vllm serve --api-key)"
    )


def _not_found(path: str) -> str:
    """Why a server answered 404 on a path every `vllm serve` has, and what to do."""
    return (
        f"HTTP 404 on {path}: the URL is not a vllm serve base URL; give it as "
        "http://HOST:PORT or http://HOST:PORT/v1, without any further path"
    )


def _messages(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def _reason(exc: BaseException) -> str:
    """A short reason for logs and status (never a body that might echo text)."""
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, openai.APIConnectionError | httpx.ConnectError):
        return "connection failed"
    return type(exc).__name__
