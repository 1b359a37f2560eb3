"""The remote backend against two real `vllm serve` servers on the bundled model.

The servers start once for this module (about a minute on two cores). One of them is
killed mid-reply: the user is told the reply was cut off, the next requests go to the
survivor, and once the killed server is started again it gets requests again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.invocation import ChannelRef, Invocation, User
from bot.reply import Notice, TextDelta
from engine import ChatMessage, GenerationParams
from engine.factory import build_engine
from engine.remote import RemoteEngine
from engine.settings import EngineSettings
from tests.conftest import open_core
from tests.vllm_servers import VllmServer

pytestmark = pytest.mark.engine

CHANNEL = ChannelRef("test", "guild-1", "fleet")


def ask(text: str) -> list[ChatMessage]:
    return [ChatMessage("user", text)]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def servers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[list[VllmServer]]:
    """Two `vllm serve` servers, started together."""
    log_dir = tmp_path_factory.mktemp("vllm-logs")
    fleet = [VllmServer(log_dir), VllmServer(log_dir)]
    for server in fleet:
        server.launch()
    try:
        await asyncio.gather(*(server.ready() for server in fleet))
        yield fleet
    finally:
        for server in fleet:
            server.stop()


def remote(urls: list[str]) -> RemoteEngine:
    engine = build_engine(EngineSettings(backend="remote", urls=tuple(urls), health_interval_s=0.5))
    assert isinstance(engine, RemoteEngine)
    return engine


async def test_replies_stream_through_the_openai_api(servers: list[VllmServer]) -> None:
    engine = remote([servers[0].url])
    try:
        await engine.start()
        assert engine.max_context_tokens == 2048
        assert await engine.count_tokens(ask("Hello there.")) > 3
        deltas = [
            d
            async for d in engine.stream(
                ask("Name three colours."), GenerationParams(max_tokens=24)
            )
        ]
        assert len(deltas) >= 3 and "".join(deltas).strip()
        status = engine.status()
        assert status.backend == "remote (1 vLLM server)" and status.ready
        assert status.servers == (f"{servers[0].url} up, 0 running, 1 served",)
    finally:
        await engine.close()


async def test_structured_output_and_priorities_reach_the_server(servers: list[VllmServer]) -> None:
    engine = build_engine(
        EngineSettings(backend="remote", urls=(servers[0].url,), remote_priority=True)
    )
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string", "maxLength": 20}},
        "required": ["colour"],
        "additionalProperties": False,
    }
    try:
        text = "".join(
            [
                d
                async for d in engine.stream(
                    ask("Pick a colour."),
                    GenerationParams(max_tokens=40, json_schema=schema, priority=3),
                )
            ]
        )
        assert text.startswith("{") and '"colour"' in text
    finally:
        await engine.close()


async def test_requests_are_balanced_over_both_servers(servers: list[VllmServer]) -> None:
    engine = remote([s.url for s in servers])
    try:
        await engine.start()
        replies = await asyncio.gather(
            *(
                collect(engine, ask(f"One word about {topic}."), 8)
                for topic in ("cats", "rain", "trains", "bread")
            )
        )
        assert all(replies)
        assert [s.served for s in engine.servers] == [2, 2]
    finally:
        await engine.close()


async def collect(engine: RemoteEngine, messages: list[ChatMessage], max_tokens: int) -> str:
    return "".join(
        [d async for d in engine.stream(messages, GenerationParams(max_tokens=max_tokens))]
    )


async def test_a_server_killed_mid_reply_is_reported_then_avoided_then_used_again(
    servers: list[VllmServer], tmp_path: Path
) -> None:
    engine = remote([s.url for s in servers])
    core = await open_core(tmp_path, engine)
    try:
        await engine.start()
        # 1) A long explanation streams from one server; kill that server mid-reply.
        run = core.dispatch(
            Invocation(
                "tutor explain", {"topic": "the history of ships"}, CHANNEL, User("7", "ada")
            )
        )
        text: list[str] = []
        notices: list[Notice] = []
        victim: VllmServer | None = None
        async for event in run.reply.events():
            if isinstance(event, TextDelta):
                text.append(event.text)
                if victim is None and len("".join(text)) > 20:
                    busy = next(s for s in engine.servers if s.outstanding)
                    victim = next(s for s in servers if s.url == busy.url)
                    victim.kill()
            elif isinstance(event, Notice):
                notices.append(event)
        await run.wait()
        assert victim is not None and text
        assert [n.text for n in notices] == [
            "The reply was cut off: the language model server stopped part-way. "
            f"Please try again. (incident {run.invocation.id})"
        ]
        assert not notices[0].private  # everyone who saw the partial reply sees why
        # 2) The next requests go to the survivor.
        survivor = next(s for s in engine.servers if s.url != victim.url)
        before = survivor.served
        assert await collect(engine, ask("Say hi."), 8)
        assert await collect(engine, ask("Say bye."), 8)
        assert survivor.served == before + 2
        assert "down" in engine.status().servers[[s.url for s in servers].index(victim.url)]
        # 3) Started again, the server is found healthy and gets requests again.
        victim.launch()
        await victim.ready()
        revived = next(s for s in engine.servers if s.url == victim.url)
        for _ in range(40):
            if revived.healthy:
                break
            await asyncio.sleep(0.5)
        assert revived.healthy
        served = revived.served
        await asyncio.gather(*(collect(engine, ask(f"Count to {n}."), 8) for n in range(4)))
        assert revived.served > served
    finally:
        await core.close()
        await engine.close()
