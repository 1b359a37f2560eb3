"""The router: checks from config.yaml, handlers in their own tasks, incidents, timeouts."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.config import PermissionSettings, RouterSettings
from bot.core import Core
from bot.invocation import ChannelRef, Invocation, User
from bot.reply import Notice, Reply, TextDelta
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


async def test_dispatch_answers_before_any_work_is_done(core: Core) -> None:
    # The adapter gets its Reply at once: acknowledging never waits on the database or engine.
    run = core.dispatch(invoke("story start", premise="x"))
    assert not run.task.done() and not run.reply.closed
    await collect(run.reply)
    await run.wait()


async def test_slow_engine_does_not_block_other_channels(tmp_path: Path) -> None:
    engine = ScriptedEngine(delay_s=0.01, script=ScriptedEngine.replying("w " * 50))
    core = await open_core(tmp_path, engine)
    channels = [ChannelRef("test", "g", f"c{i}") for i in range(5)]
    runs = [core.dispatch(invoke("rewrite", channel=c, text="hi", style="noir")) for c in channels]
    results = await asyncio.gather(*(collect(r.reply) for r in runs))
    assert all(text.strip() for text, _ in results)
    await core.close()
