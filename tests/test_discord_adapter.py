"""The Discord adapter over the wire: real discord.py against a local Discord, scripted engine."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.adapters.discord.adapter import DiscordAdapter, DiscordStartError, sync_key
from bot.adapters.discord.credentials import DiscordCredentials
from bot.config import CommandAccess, DiscordSettings
from bot.core import MATURE_REFUSED, Core
from bot.invocation import ChannelRef
from bot.privacy import channel_data
from tests.conftest import make_config
from tests.fake_discord import EPHEMERAL, FakeDiscord, InteractionRecord
from tests.scripted_engine import ScriptedEngine

PUT_COMMANDS = "PUT /applications/{application_id}/commands"
PUT_GUILD_COMMANDS = "PUT /applications/{application_id}/guilds/{guild_id}/commands"
ORIGINAL = "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"
FOLLOWUP = "POST /webhooks/{webhook_id}/{webhook_token}"
CALLBACK = "POST /interactions/{interaction_id}/{interaction_token}/callback"
MANAGE_CHANNELS = 1 << 4


class Clock:
    """Real monotonic time that a test can move forward (interaction tokens, 15 minutes)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest_asyncio.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(clock=clock) as server:
        yield server


@dataclasses.dataclass
class Bot:
    """A core and its Discord adapter, connected to the fake."""

    core: Core
    adapter: DiscordAdapter
    engine: ScriptedEngine
    fake: FakeDiscord

    async def command(self, name: str, options: dict[str, Any] | None = None, **kw: Any) -> int:
        """Type a slash command ("story start"); returns the interaction id."""
        words = name.split()
        payload = self.fake.slash(
            words[0], options or {}, subcommand=" ".join(words[1:]) or None, **kw
        )
        record = await self.fake.dispatch(payload)
        await self.fake.wait_for_callback(record.id)
        return record.id

    async def settled(self, timeout_s: float = 10) -> None:
        """Wait until every reply has been delivered."""
        await self.fake.wait_until(lambda: not self.adapter._serving, timeout_s=timeout_s)


async def start_bot(
    fake: FakeDiscord,
    tmp_path: Path,
    engine: ScriptedEngine,
    clock: Clock | None = None,
    access: dict[str, CommandAccess] | None = None,
    **settings: Any,
) -> Bot:
    """A bot on the fake; `access` is config.yaml's rules, `settings` the Discord section."""
    config = make_config(tmp_path, access=access or {})
    core = await Core.open(config, engine)
    await engine.start()
    adapter = DiscordAdapter(
        core,
        DiscordCredentials(fake.token, fake.api_url),
        DiscordSettings(**settings),
        clock=clock or time.monotonic,
        guild_ready_timeout=0.05,
    )
    await adapter.start()
    return Bot(core, adapter, engine, fake)


async def reply_showing(
    fake: FakeDiscord, tmp_path: Path, word: str, count: int
) -> tuple[Bot, InteractionRecord]:
    """A bot streaming `word` `count` times into /tutor explain's reply, once it shows."""
    engine = ScriptedEngine(script=ScriptedEngine.replying(" ".join([word] * count)), delay_s=0.02)
    bot = await start_bot(fake, tmp_path, engine)
    iid = await bot.command("tutor explain", {"topic": word})
    record = fake.interaction(iid)
    await fake.wait_until(lambda: bool(fake.message(record.original_message_id or 0)["content"]))
    return bot, record


async def stop_bot(bot: Bot) -> None:
    await bot.adapter.close()
    await bot.core.close()


@pytest_asyncio.fixture
async def bot(fake: FakeDiscord, tmp_path: Path, clock: Clock) -> AsyncIterator[Bot]:
    running = await start_bot(fake, tmp_path, ScriptedEngine(delay_s=0.01), clock)
    yield running
    await stop_bot(running)


# -- start-up and registration --


async def test_start_registers_the_commands_once_until_they_change(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    bot = await start_bot(fake, tmp_path, ScriptedEngine())
    assert len(fake.calls_to(PUT_COMMANDS)) == 1
    names = {c["name"] for c in fake.commands()}
    assert {"story", "lyrics", "summarize", "tutor", "rewrite", "prefs", "help"} <= names
    stored = await bot.core.db.get_meta(sync_key(None))
    await stop_bot(bot)
    # Same declarations: nothing is sent again.
    bot = await start_bot(fake, tmp_path, ScriptedEngine())
    assert len(fake.calls_to(PUT_COMMANDS)) == 1
    await stop_bot(bot)
    # A changed payload (here, a different stored hash stands for it) registers again.
    assert stored is not None
    bot = await start_bot(fake, tmp_path, ScriptedEngine())
    await bot.core.db.set_meta(sync_key(None), "something else")
    assert await bot.adapter.sync(None, only_if_changed=True) is True
    assert len(fake.calls_to(PUT_COMMANDS)) == 2
    await stop_bot(bot)


async def test_guild_sync_registers_in_one_server(fake: FakeDiscord, tmp_path: Path) -> None:
    bot = await start_bot(fake, tmp_path, ScriptedEngine(), guild=str(fake.guild_id))
    assert len(fake.calls_to(PUT_GUILD_COMMANDS)) == 1
    assert not fake.calls_to(PUT_COMMANDS)
    assert {c["name"] for c in fake.commands(fake.guild_id)} >= {"story", "prefs"}
    await stop_bot(bot)


async def test_a_refused_token_stops_start_up_without_showing_it(
    fake: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    core = await Core.open(make_config(tmp_path), ScriptedEngine())
    adapter = DiscordAdapter(
        core, DiscordCredentials("not-the-token", fake.api_url), DiscordSettings()
    )
    with pytest.raises(DiscordStartError, match="Discord refused DISCORD_TOKEN") as info:
        await adapter.start()
    await adapter.close()
    await core.close()
    assert "not-the-token" not in str(info.value) and "not-the-token" not in caplog.text


# -- commands --


async def test_a_command_is_deferred_then_streamed_into_the_response(bot: Bot) -> None:
    fake = bot.fake
    iid = await bot.command("story start", {"premise": "a lighthouse keeper"})
    callback = await fake.wait_for_callback(iid)
    assert callback.type == 5 and callback.after_s < 3
    await bot.settled()
    record = fake.interaction(iid)
    assert record.original_message_id is not None
    original = fake.message(record.original_message_id)
    assert "Scripted reply to:" in original["content"]
    labels = [c["label"] for row in original["components"] for c in row["components"]]
    assert labels == ["Regenerate", "Continue"]


def components(message: dict[str, Any]) -> list[str]:
    """The button labels on a message."""
    return [c["label"] for row in message.get("components", []) for c in row["components"]]


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components", []) for c in row["components"]]


async def test_every_interaction_is_deferred_before_any_work_even_when_the_engine_is_busy(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    started: list[float] = []

    def slow(messages: Any, params: Any) -> str:
        started.append(time.monotonic())
        return " ".join(["word"] * 40)

    bot = await start_bot(fake, tmp_path, ScriptedEngine(script=slow, delay_s=0.05))
    channels = [fake.general_channel_id] + [fake.add_channel(f"room-{i}") for i in range(9)]
    ids = await asyncio.gather(
        *(
            bot.command("lyrics", {"topic": f"song {i}"}, channel_id=channels[i % 10])
            for i in range(50)
        )
    )
    callbacks = [await fake.wait_for_callback(i) for i in ids]
    assert all(c.type == 5 and c.status == 200 and c.after_s < 3 for c in callbacks)
    # Five replies a channel share its edit budget: delivering them all takes a while.
    await bot.settled(timeout_s=240)
    # The engine saw its first request only after every command was acknowledged.
    assert started and max(c.at for c in callbacks) < min(started)
    await stop_bot(bot)


async def test_autocomplete_answers_from_memory(bot: Bot) -> None:
    fake = bot.fake
    payload = fake.autocomplete("rewrite", {"text": "hello"}, focused="style")
    payload["data"]["options"][1]["value"] = "pir"
    record = await fake.dispatch(payload)
    callback = await fake.wait_for_callback(record.id)
    assert callback.type == 8
    assert [c["name"] for c in record.choices or []] == ["pirate"]


async def test_validation_and_refusals_are_ephemeral(bot: Bot) -> None:
    fake = bot.fake
    iid = await bot.command("prefs set", {"key": "story.genre", "value": "mystery"})
    await bot.settled()
    record = fake.interaction(iid)
    # The "thinking…" response was removed and the refusal shown only to the user.
    assert record.original_message_id is None or not fake.messages(fake.general_channel_id)
    (notice,) = fake.ephemerals(fake.general_channel_id)
    assert notice["content"] == "Only server admins can use /prefs set."
    assert notice["flags"] & EPHEMERAL


async def test_members_with_manage_channels_may_change_preferences(bot: Bot) -> None:
    fake = bot.fake
    await bot.command(
        "prefs set", {"key": "story.genre", "value": "mystery"}, permissions=MANAGE_CHANNELS
    )
    await bot.settled()
    prefs = await bot.core.preferences(f"discord/{fake.guild_id}/{fake.general_channel_id}")
    assert prefs.get("story.genre") == "mystery"


async def test_access_rules_from_config_allow_and_deny(fake: FakeDiscord, tmp_path: Path) -> None:
    writers = fake.add_role("Writers")
    rules = {
        "lyrics": CommandAccess(deny_users=(f"discord:{fake.user_id}",)),
        "rewrite": CommandAccess(allow_roles=("writers",)),
    }
    bot = await start_bot(fake, tmp_path, ScriptedEngine(), access=rules)
    try:
        await bot.command("lyrics", {"topic": "rain"})
        await bot.command("rewrite", {"text": "hi", "style": "noir"})
        await bot.settled()
        assert not bot.engine.requests
        notices = [n["content"] for n in fake.ephemerals(fake.general_channel_id)]
        assert notices == ["You can't use /lyrics here.", "You can't use /rewrite here."]
        # A member with the role (named in any case) may.
        await bot.command("rewrite", {"text": "hi", "style": "noir"}, roles=[writers])
        await bot.settled()
        assert len(bot.engine.requests) == 1
    finally:
        await stop_bot(bot)


async def test_streaming_edits_follow_the_rate_limit_headers_without_a_429(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    fake.set_rate_limit("webhook", 3, 1.0)
    engine = ScriptedEngine(script=ScriptedEngine.replying(" ".join(["wave"] * 80)), delay_s=0.02)
    bot = await start_bot(fake, tmp_path, engine)
    iid = await bot.command("tutor explain", {"topic": "the sea"})
    await bot.settled()
    original = fake.message(fake.interaction(iid).original_message_id or 0)
    assert original["content"].count("wave") == 80  # the final text always lands
    assert fake.rate_limited["webhook"] == 0
    edits = [w.at for w in fake.writes(fake.general_channel_id) if w.action == "edit"]
    assert len(edits) >= 2
    # Any one-second stretch holds at most the three edits Discord's headers allow.
    assert all(sum(1 for t in edits if s <= t < s + 1.0) <= 3 for s in edits)
    await stop_bot(bot)


async def test_a_long_reply_continues_in_followups_split_at_boundaries(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    def paragraph(p: int) -> str:  # long words: the scripted engine's tokens are words
        return " ".join(f"The-tide-came-in-over-the-old-stones-{p}-{n}." for n in range(17))

    text = "\n\n".join(paragraph(p) for p in range(6))  # about 4,600 characters
    bot = await start_bot(fake, tmp_path, ScriptedEngine(script=ScriptedEngine.replying(text)))
    iid = await bot.command("tutor explain", {"topic": "tides"})
    await bot.settled()
    record = fake.interaction(iid)
    ids = [record.original_message_id or 0, *record.followup_ids]
    parts = [fake.message(i)["content"] for i in ids]
    assert len(parts) == 3 and all(len(p) <= 2000 for p in parts)
    assert all(p.endswith(".") for p in parts)  # never inside a sentence or a word
    assert " ".join(parts).split() == text.split()
    await stop_bot(bot)


async def test_stop_aborts_the_generation_in_the_engine(fake: FakeDiscord, tmp_path: Path) -> None:
    bot, record = await reply_showing(fake, tmp_path, "on", 400)
    message = fake.message(record.original_message_id or 0)
    assert components(message) == ["Stop"]
    await fake.dispatch(fake.button(custom_ids(message)[0], message_id=int(message["id"])))
    await bot.settled()
    assert bot.engine.aborted == 1
    final = fake.message(record.original_message_id or 0)
    assert components(final) == ["Regenerate"]
    assert final["content"].count("on") < 400
    await stop_bot(bot)


async def test_regenerate_and_continue_run_again(bot: Bot) -> None:
    fake = bot.fake
    iid = await bot.command("story start", {"premise": "a fox"})
    await bot.settled()
    message = fake.message(fake.interaction(iid).original_message_id or 0)
    regenerate, cont = custom_ids(message)
    await fake.dispatch(fake.button(cont, message_id=int(message["id"])))
    # The story's cast is looked for once, then the next part is asked for.
    await fake.wait_until(lambda: len(bot.engine.requests) == 3)
    await bot.settled()
    # Continue asks for the next part, with the story so far as the model's earlier turns.
    chat, _ = bot.engine.requests[-1]
    assert chat[-1].content.startswith("Continue the story")
    assert [m.role for m in chat].count("assistant") == 1
    await fake.dispatch(fake.button(regenerate, message_id=int(message["id"])))
    await fake.wait_until(lambda: len(bot.engine.requests) == 4)
    await bot.settled()
    # Regenerate writes the opening again from the premise alone: no story so far.
    chat, _ = bot.engine.requests[-1]
    assert [m.role for m in chat] == ["system", "user"]
    assert chat[-1].content.startswith("Begin a fantasy story about: a fox")


async def press(bot: Bot, custom_id: str, message: dict[str, Any], **kw: Any) -> None:
    """Press a button on a message and wait until the adapter has served the press."""
    record = await bot.fake.dispatch(
        bot.fake.button(custom_id, message_id=int(message["id"]), **kw)
    )
    await bot.fake.wait_for_callback(record.id)
    await bot.settled()


async def test_a_denied_member_pressing_regenerate_or_continue_is_refused(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    rival = fake.add_user(fake.next_id(), "rival")
    fake.add_member(rival)
    # Only /story start is named: Continue (which runs /story continue) is refused too,
    # because it carries on a reply of /story start.
    rules = {"story start": CommandAccess(deny_users=(f"discord:{rival}",))}
    bot = await start_bot(fake, tmp_path, ScriptedEngine(), access=rules)
    try:
        iid = await bot.command("story start", {"premise": "a fox"})
        await bot.settled()
        asked = len(bot.engine.requests)
        message = fake.message(fake.interaction(iid).original_message_id or 0)
        regenerate, cont = custom_ids(message)
        await press(bot, regenerate, message, user_id=rival)
        await press(bot, cont, message, user_id=rival)
        assert len(bot.engine.requests) == asked
        notices = [n["content"] for n in fake.ephemerals(fake.general_channel_id)]
        assert notices == ["You can't use /story start here."] * 2
        # The same buttons still work for a member the rules allow.
        await press(bot, regenerate, message)
        assert len(bot.engine.requests) > asked
        assert "Begin a fantasy story about: a fox" in bot.engine.last_prompt()
    finally:
        await stop_bot(bot)


async def test_a_denied_member_gets_no_suggestions(fake: FakeDiscord, tmp_path: Path) -> None:
    rival = fake.add_user(fake.next_id(), "rival")
    fake.add_member(rival)
    rules = {"rewrite": CommandAccess(deny_users=(f"discord:{rival}",))}
    bot = await start_bot(fake, tmp_path, ScriptedEngine(), access=rules)
    try:

        async def suggestions(user_id: int) -> list[str]:
            payload = fake.autocomplete(
                "rewrite", {"text": "hello"}, focused="style", user_id=user_id
            )
            payload["data"]["options"][1]["value"] = "pir"
            record = await fake.dispatch(payload)
            assert (await fake.wait_for_callback(record.id)).type == 8
            return [c["name"] for c in record.choices or []]

        assert await suggestions(rival) == []
        assert await suggestions(fake.user_id) == ["pirate"]
    finally:
        await stop_bot(bot)


async def test_buttons_work_after_a_restart(fake: FakeDiscord, tmp_path: Path) -> None:
    bot = await start_bot(fake, tmp_path, ScriptedEngine())
    try:
        iid = await bot.command("story start", {"premise": "a fox"})
        await bot.settled()
    finally:
        await stop_bot(bot)
    message = fake.message(fake.interaction(iid).original_message_id or 0)
    regenerate, cont = custom_ids(message)
    # A new process: a new core and adapter on the same database file, nothing in memory.
    bot = await start_bot(fake, tmp_path, ScriptedEngine())
    try:
        other = fake.add_user(fake.next_id(), "bea")
        fake.add_member(other)
        await press(bot, regenerate, message, user_id=other)
        assert len(bot.engine.requests) == 1
        assert "Begin a fantasy story about: a fox" in bot.engine.last_prompt()
        await press(bot, cont, message)
        assert bot.engine.last_prompt().startswith("Continue the story")
        # Stop has nothing to stop: the reply it was on ended with the old process.
        await press(bot, regenerate.replace(":regenerate:", ":stop:"), message)
        assert fake.ephemerals(fake.general_channel_id)[-1]["content"] == (
            "There is nothing running to stop."
        )
        assert message["id"] in {m["id"] for m in fake.messages(fake.general_channel_id)}
    finally:
        await stop_bot(bot)


async def test_the_fifteen_minute_token_gives_way_to_a_channel_message(
    fake: FakeDiscord, tmp_path: Path, clock: Clock
) -> None:
    engine = ScriptedEngine(script=ScriptedEngine.replying(" ".join(["late"] * 120)), delay_s=0.02)
    bot = await start_bot(fake, tmp_path, engine, clock)
    iid = await bot.command("tutor explain", {"topic": "time"})
    record = fake.interaction(iid)
    # Streaming has begun (the first words show) when the token nears its end.
    await fake.wait_until(
        lambda: (
            "late" in fake.message(record.original_message_id or 0)["content"]
            if record.original_message_id
            else False
        )
    )
    clock.advance(14.5 * 60)  # past the adapter's margin, inside Discord's 15 minutes
    await bot.settled()
    channel = [m for m in fake.messages(fake.general_channel_id) if not m.get("interaction")]
    shown = fake.message(record.original_message_id or 0)["content"]
    rest = "".join(m["content"] for m in fake.messages(fake.general_channel_id)[1:])
    assert channel and (shown + " " + rest).split().count("late") == 120
    await stop_bot(bot)


# -- Discord failures --


@pytest.mark.parametrize("global_", [False, True])
async def test_a_429_is_waited_out_and_the_reply_completes(
    fake: FakeDiscord, tmp_path: Path, global_: bool
) -> None:
    bot = await start_bot(fake, tmp_path, ScriptedEngine())
    fake.fail_next(
        "PATCH", r"/webhooks/\d+/[^/]+/messages/@original", 429, retry_after=0.2, global_=global_
    )
    iid = await bot.command("lyrics", {"topic": "patience"})
    await bot.settled()
    content = fake.message(fake.interaction(iid).original_message_id or 0)["content"]
    assert "Scripted reply to: Song topic:" in content
    await stop_bot(bot)


async def test_a_server_error_is_retried(fake: FakeDiscord, tmp_path: Path) -> None:
    bot = await start_bot(fake, tmp_path, ScriptedEngine())
    fake.fail_next("PATCH", r"/webhooks/\d+/[^/]+/messages/@original", 500)
    iid = await bot.command("lyrics", {"topic": "storms"})
    await bot.settled()
    content = fake.message(fake.interaction(iid).original_message_id or 0)["content"]
    assert "Scripted reply to: Song topic:" in content
    await stop_bot(bot)


@pytest.mark.parametrize(("status", "code"), [(404, 10062), (400, 40060)])
async def test_an_unacknowledgeable_interaction_is_never_served(
    bot: Bot, status: int, code: int
) -> None:
    fake = bot.fake
    fake.fail_next("POST", r"/interactions/\d+/[^/]+/callback", status, code)
    await fake.dispatch(fake.slash("lyrics", {"topic": "late"}))
    (refused,) = await fake.wait_for_calls(CALLBACK)
    assert refused.status == status
    await bot.settled()
    assert not bot.engine.requests  # no generation for nobody
    assert not fake.calls_to(ORIGINAL)


async def test_missing_permissions_are_named_to_the_user(bot: Bot) -> None:
    fake = bot.fake
    fake.fail_next("POST", r"/channels/\d+/messages/\d+/threads", 403, 50013)
    await bot.command("story start", {"premise": "a lost key"})
    await bot.settled()
    (notice,) = fake.ephemerals(fake.general_channel_id)
    assert "Create Public Threads" in notice["content"]


async def test_edits_refused_for_an_old_message_continue_in_a_new_one(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    bot, record = await reply_showing(fake, tmp_path, "old", 60)
    # The reply is showing; from now on Discord refuses every edit of it.
    fake.fail_next("PATCH", r"/webhooks/\d+/[^/]+/messages/@original", 400, 30046, times=50)
    await bot.settled()
    words = " ".join(m["content"] for m in fake.messages(fake.general_channel_id)).split()
    assert words.count("old") >= 55
    assert record.callbacks[0].type == 5
    await stop_bot(bot)


async def test_the_gateway_resumes_after_a_disconnect(bot: Bot) -> None:
    fake = bot.fake
    await fake.disconnect(4000)
    await fake.wait_until(lambda: fake.resumes == 1, timeout_s=10)
    await bot.command("lyrics", {"topic": "return"})
    await bot.settled()
    assert fake.identifies == 1 and bot.engine.requests


# -- history for /summarize --


async def test_summarize_reads_the_channel_history(bot: Bot) -> None:
    fake = bot.fake
    fake.add_message(
        fake.general_channel_id, "We meet at the old mill at dawn.", author_id=fake.user_id
    )
    await bot.command("summarize", {})
    await bot.settled()
    assert "old mill at dawn" in bot.engine.last_prompt()
    # What was read for the summary is not kept anywhere.
    data = await channel_data(
        bot.core.db, ChannelRef("discord", str(fake.guild_id), str(fake.general_channel_id))
    )
    assert "old mill" not in json.dumps(data)


async def test_summarize_without_the_message_content_intent_says_so(
    fake: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await start_bot(fake, tmp_path, ScriptedEngine(), message_content=False)
    await bot.command("summarize", {})
    await bot.settled()
    (notice,) = fake.ephemerals(fake.general_channel_id)
    assert "Message Content intent" in notice["content"]
    assert "Message Content intent" in caplog.text
    await stop_bot(bot)


async def test_shutdown_stops_streams_and_shows_what_was_written(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    bot, record = await reply_showing(fake, tmp_path, "bye", 400)
    await stop_bot(bot)
    assert bot.engine.aborted == 1
    final = fake.message(record.original_message_id or 0)
    assert 0 < final["content"].count("bye") < 400
    assert components(final) == ["Regenerate"]  # no Stop button left behind


# --- Safety: the NSFW flag reaches the core, exports arrive as files ------------------------

MANAGE_GUILD = 1 << 5


async def test_mature_may_be_chosen_only_in_an_nsfw_channel(bot: Bot) -> None:
    fake = bot.fake
    mature = {"key": "rating", "value": "mature"}
    await bot.command("prefs set", mature, permissions=MANAGE_CHANNELS)
    await bot.command(
        "prefs set", mature, permissions=MANAGE_CHANNELS, channel_id=fake.nsfw_channel_id
    )
    await bot.settled()
    (notice,) = fake.ephemerals(fake.general_channel_id)
    assert notice["content"] == MATURE_REFUSED
    general = await bot.core.preferences(f"discord/{fake.guild_id}/{fake.general_channel_id}")
    nsfw = await bot.core.preferences(f"discord/{fake.guild_id}/{fake.nsfw_channel_id}")
    assert (general.get("rating"), nsfw.get("rating")) == ("general", "mature")


async def test_a_blocked_reply_stops_with_a_notice_everyone_sees(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    engine = ScriptedEngine(script=ScriptedEngine.replying("Well, damn it all, said the knight."))
    bot = await start_bot(fake, tmp_path, engine)
    await bot.command("tutor explain", {"topic": "swearing"})
    await bot.settled()
    shown = [m["content"] for m in fake.messages(fake.general_channel_id)]
    assert not any("damn" in text for text in shown)
    assert shown[-1] == (
        "The rest of this reply was withheld: it went beyond this channel's rating (general)."
    )
    assert engine.aborted == 1
    await stop_bot(bot)


async def test_an_export_is_sent_as_a_file_only_the_admin_sees(bot: Bot) -> None:
    fake = bot.fake
    await bot.command("skald export", permissions=MANAGE_GUILD)
    await bot.settled()
    uploads = [c for c in fake.calls_to(FOLLOWUP) if c.files]
    assert [c.files for c in uploads] == [[uploads[0].files[0]]]
    assert uploads[0].files[0].startswith("skald-export-")
    assert uploads[0].json["flags"] & EPHEMERAL
