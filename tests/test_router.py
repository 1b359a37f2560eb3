"""The router: checks from config.yaml, handlers in their own tasks, incidents, timeouts."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from bot.config import PermissionSettings, RouterSettings
from bot.core import Core
from bot.invocation import ChannelRef, Invocation, User
from bot.memory.controls import ChannelControls
from bot.reply import Accepted, Notice, Reply, TextDelta
from engine import ChatMessage, GenerationParams, Usage
from tests.conftest import open_core
from tests.scripted_engine import ScriptedEngine

CHANNEL = ChannelRef("test", "guild-1", "general")
MEMBER = User("42", "member")
ADMIN = User("1", "owner", is_admin=True)


def invoke(
    command: str, user: User = MEMBER, channel: ChannelRef = CHANNEL, **options: object
) -> Invocation:
    return Invocation(command, options, channel, user)


async def collect(reply: Reply) -> tuple[str, list[Notice]]:
    text, notices = [], []
    async for event in reply.events():
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, Notice):
            notices.append(event)
    return "".join(text), notices


async def serve(core: Core, inv: Invocation) -> tuple[str, list[Notice]]:
    run = core.dispatch(inv)
    result = await collect(run.reply)
    await run.wait()
    return result


async def test_admin_only_commands_need_an_admin(core: Core) -> None:
    _, notices = await serve(core, invoke("prefs set", key="story.genre", value="horror"))
    assert [n.text for n in notices] == ["Only server admins can use /prefs set."]
    assert notices[0].kind == "error" and notices[0].private
    text, notices = await serve(core, invoke("prefs set", ADMIN, key="story.genre", value="horror"))
    assert text == "story.genre = horror" and not notices


async def test_config_can_name_admins_and_make_more_commands_admin_only(tmp_path: Path) -> None:
    core = await open_core(
        tmp_path,
        ScriptedEngine(),
        permissions=PermissionSettings(admins=("test:42",), admin_commands=("story end",)),
    )
    text, _ = await serve(core, invoke("prefs set", key="language", value="zh"))
    assert text == "language = zh"
    _, notices = await serve(core, invoke("story end", User("7", "guest")))
    # The channel now speaks Chinese, and so does the refusal.
    assert notices[0].text == "只有服务器管理员可以使用 /story end。"
    await core.close()


async def test_cooldown_is_per_user_and_per_command(tmp_path: Path) -> None:
    core = await open_core(
        tmp_path, ScriptedEngine(), router=RouterSettings(cooldown_s=60, cooldowns={"help": 0})
    )
    await serve(core, invoke("rewrite", text="one", style="noir"))
    _, notices = await serve(core, invoke("rewrite", text="two", style="noir"))
    assert notices[0].text.startswith("Slow down a little: you can use /rewrite again in")
    text, notices = await serve(
        core, invoke("rewrite", User("43", "other"), text="two", style="noir")
    )
    assert text and not notices
    text, _ = await serve(core, invoke("help"))
    text, notices = await serve(core, invoke("help"))
    assert text and not notices
    await core.close()


async def test_a_handler_that_raises_gets_an_incident_id_and_others_keep_being_served(
    core: Core, engine: ScriptedEngine, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(messages: object, params: object) -> str:
        raise RuntimeError("model on fire")

    engine.script = explode
    inv = invoke("rewrite", text="hello", style="noir")
    with caplog.at_level(logging.ERROR):
        _, notices = await serve(core, inv)
    assert notices[0].text == f"Something went wrong on our side. (incident {inv.id})"
    record = next(r for r in caplog.records if inv.id in r.getMessage())
    assert record.exc_info is not None and "model on fire" in str(record.exc_info[1])
    engine.script = ScriptedEngine.replying("fine again")
    text, _ = await serve(core, invoke("rewrite", text="hello", style="noir"))
    assert text == "fine again"


async def test_a_slow_handler_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    engine = ScriptedEngine(delay_s=0.5)
    core = await open_core(
        tmp_path, engine, router=RouterSettings(cooldown_s=0, handler_timeout_s=0.2)
    )
    _, notices = await serve(core, invoke("rewrite", text="a b c d e f", style="noir"))
    assert notices[-1].text == "That took too long (over 0.2 s) and was stopped."
    assert engine.aborted == 1  # the engine request was aborted with the handler
    await core.close()


async def test_cancelling_a_run_aborts_the_engine_request(
    core: Core, engine: ScriptedEngine
) -> None:
    engine.delay_s = 0.05
    engine.script = ScriptedEngine.replying("word " * 200)
    run = core.dispatch(invoke("rewrite", text="hello", style="noir"))
    async for event in run.reply.events():
        if isinstance(event, TextDelta):
            run.cancel()
        if isinstance(event, Notice):
            assert event.text == "Stopped."
    await run.wait()
    assert run.task.cancelled()
    assert engine.aborted == 1


async def test_a_prompt_too_long_for_the_model_gets_a_clear_message(tmp_path: Path) -> None:
    core = await open_core(tmp_path, ScriptedEngine(max_context_tokens=300))
    _, notices = await serve(core, invoke("rewrite", text="word " * 290, style="noir"))
    assert notices[0].text.startswith("That is too long for the model (")
    assert notices[0].text.endswith("Please shorten it.")
    await core.close()


async def test_a_command_is_accepted_before_the_controls_or_the_engine_answer(
    core: Core, engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Adapters show "working" on Accepted: it must not wait on the channel's controls (a
    # database read that a busy disk can make slow) nor on the engine.
    controls_read = asyncio.Event()
    read_controls = core.controls.load

    async def held_load(scope: str) -> ChannelControls:
        await controls_read.wait()
        return await read_controls(scope)

    monkeypatch.setattr(core.controls, "load", held_load)
    run = core.dispatch(invoke("story start", premise="x"))
    events = run.reply.events()
    # A deadlock guard, not a speed limit: without Accepted first this waits forever.
    first = await asyncio.wait_for(anext(events), timeout=30)
    assert isinstance(first, Accepted)
    assert not engine.requests and not run.task.done()
    controls_read.set()
    text = "".join([e.text async for e in events if isinstance(e, TextDelta)])
    await run.wait()
    assert "Scripted" in text


class HeldEngine(ScriptedEngine):
    """A scripted engine that holds any request mentioning "stuck" until released."""

    def __init__(self) -> None:
        # Each reply names the text it rewrites, so every channel's reply is told apart.
        super().__init__(
            script=lambda messages, _: (
                "It was " + re.findall(r"note \d|stuck", messages[-1].content)[-1]
            )
        )
        self.release = asyncio.Event()

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, usage: Usage | None = None
    ) -> AsyncIterator[str]:
        if "stuck" in messages[-1].content:
            await self.release.wait()
        async for token in super().stream(messages, params, usage):
            yield token


async def test_a_stuck_reply_does_not_hold_up_other_channels(tmp_path: Path) -> None:
    engine = HeldEngine()
    core = await open_core(tmp_path, engine)
    stuck = core.dispatch(
        invoke("rewrite", channel=ChannelRef("test", "g", "slow"), text="stuck", style="noir")
    )
    channels = [ChannelRef("test", "g", f"c{i}") for i in range(4)]
    runs = [
        core.dispatch(invoke("rewrite", channel=c, text=f"note {i}", style="noir"))
        for i, c in enumerate(channels)
    ]
    # Each other channel gets its own whole reply while the first is still held (a
    # deadlock guard, not a speed limit: a shared queue would wait here forever).
    results = await asyncio.wait_for(asyncio.gather(*(collect(r.reply) for r in runs)), 30)
    assert not stuck.task.done()
    for i, (text, notices) in enumerate(results):
        assert f"note {i}" in text and not notices
    engine.release.set()
    text, notices = await collect(stuck.reply)
    assert "stuck" in text and not notices
    await core.close()
