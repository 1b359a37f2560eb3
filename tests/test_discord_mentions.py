"""On Discord nobody is pinged by a reply, and a person-naming option takes a real person.

Real discord.py against the local fake: every message payload the bot sends (interaction
responses, the edited original, follow-ups and their edits, channel and thread messages)
must carry `allowed_mentions` with an empty `parse` list, whatever the model wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fake_discord import DEFAULT_OWNER_ID, FakeDiscord
from tests.scripted_engine import ScriptedEngine
from tests.test_discord_adapter import Bot, Clock, clock, custom_ids, fake, start_bot, stop_bot

CALLBACK = "POST /interactions/{interaction_id}/{interaction_token}/callback"
ORIGINAL = "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"
FOLLOWUP = "POST /webhooks/{webhook_id}/{webhook_token}"
FOLLOWUP_EDIT = "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
CHANNEL_MESSAGE = "POST /channels/{channel_id}/messages"
CHANNEL_EDIT = "PATCH /channels/{channel_id}/messages/{message_id}"
THREAD = "POST /channels/{channel_id}/messages/{message_id}/threads"
NO_PINGS: dict[str, list[str]] = {"parse": []}
# The Discord adapter tests' fixtures: a fake Discord on a hand-moved clock.
__all__ = ["clock", "fake"]


def hostile(fake: FakeDiscord) -> str:
    """What a model might write: everyone, a person, a role, here."""
    role = fake._guild(fake.guild_id).roles[-1]["id"]
    return f"Hear ye @everyone and @here, <@{DEFAULT_OWNER_ID}> and <@&{role}>!"


def message_payloads(fake: FakeDiscord) -> list[tuple[str, dict[str, Any]]]:
    """Every (route, payload) the bot sent that carries message content."""
    found = []
    for call in fake.calls:
        body = call.json if isinstance(call.json, dict) else {}
        if call.route == CALLBACK:
            body = body.get("data") or {}
        if isinstance(body, dict) and body.get("content"):
            found.append((call.route, body))
    return found


def assert_no_pings(fake: FakeDiscord, routes: set[str]) -> None:
    """Each message payload forbids every ping, and the given routes were all exercised."""
    payloads = message_payloads(fake)
    assert routes <= {route for route, _ in payloads}
    for route, body in payloads:
        assert body.get("allowed_mentions") == NO_PINGS, (route, body)


async def test_responses_follow_ups_and_their_edits_ping_nobody(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    # Long enough to continue in a follow-up, streamed slowly enough to be edited there.
    # Each sentence its own (a sentence written twice reads as a loop and ends the reply).
    names = [a + b for a in ("brave", "quiet", "old", "young", "wise") for b in "ABCDEF"]
    text = " ".join(f"Herald {name} says: {hostile(fake)}" for name in names)
    engine = ScriptedEngine(script=ScriptedEngine.replying(text), delay_s=0.002)
    bot = await start_bot(fake, tmp_path, engine)
    iid = await bot.command("tutor explain", {"topic": "heralds"})
    await bot.settled()
    record = fake.interaction(iid)
    assert record.followup_ids and "@everyone" in fake.message(record.followup_ids[0])["content"]
    # A refusal is a follow-up too; a button from before a restart is answered at once.
    await bot.command("summarize", {"messages": 500})
    message = fake.message(record.original_message_id or 0)
    stale = custom_ids(message)[0].rsplit(":", 1)[0] + ":from-before-a-restart"
    await fake.wait_for_callback((await fake.dispatch(fake.button(stale))).id)
    await bot.settled()
    assert_no_pings(fake, {ORIGINAL, FOLLOWUP, FOLLOWUP_EDIT, CALLBACK})
    await stop_bot(bot)


async def test_channel_and_thread_messages_ping_nobody(
    fake: FakeDiscord, tmp_path: Path, clock: Clock
) -> None:
    engine = ScriptedEngine(script=ScriptedEngine.replying(hostile(fake)), delay_s=0.02)
    bot = await start_bot(fake, tmp_path, engine, clock)
    # The story opens a thread from its first message; the next part is posted in there.
    await bot.command("story start", {"premise": "a herald"})
    await bot.settled()
    await fake.wait_until(lambda: bool(fake.threads(fake.general_channel_id)))
    await bot.command("story continue")
    await bot.settled()
    # Past the interaction token's life a reply continues as channel messages.
    iid = await bot.command("tutor explain", {"topic": "heralds"})
    record = fake.interaction(iid)
    await fake.wait_until(
        lambda: bool(
            record.original_message_id
            and "@" in fake.message(record.original_message_id)["content"]
        )
    )
    clock.advance(14.5 * 60)
    await bot.settled()
    assert fake.calls_to(THREAD)
    assert_no_pings(fake, {ORIGINAL, CHANNEL_MESSAGE})
    thread = fake.threads(fake.general_channel_id)[0]
    assert any(c.params["channel_id"] == thread["id"] for c in fake.calls_to(CHANNEL_MESSAGE))
    await stop_bot(bot)


async def test_block_takes_the_person_discord_resolved(fake: FakeDiscord, tmp_path: Path) -> None:
    bot: Bot = await start_bot(fake, tmp_path, ScriptedEngine())
    target = fake.add_user(fake.next_id(), "mallory")
    fake.add_member(target)
    iid = await bot.command("skald block", {"user": target}, user_id=DEFAULT_OWNER_ID)
    await bot.settled()
    shown = fake.message(fake.interaction(iid).original_message_id or 0)["content"]
    assert shown == f"User {target} is now blocked from Skald in this workspace."
    [command] = [c for c in fake.commands() if c["name"] == "skald"]
    [block] = [o for o in command["options"] if o["name"] == "block"]
    assert block["options"][0]["type"] == 6  # Discord's user picker: nobody else can be named
    await stop_bot(bot)
