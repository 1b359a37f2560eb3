"""The fake Discord, exercised through the real discord.py: login, gateway, app commands,
interactions, history, rate limits and errors, the way a Discord adapter will meet them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import discord
import pytest
import pytest_asyncio
import yarl
from discord import app_commands

from tests.fake_discord import (
    EPHEMERAL,
    INTERACTION_ACK_S,
    INTERACTION_TOKEN_TTL_S,
    MAX_MESSAGE_CHARS,
    Call,
    FakeDiscord,
)

Interaction = discord.Interaction[discord.Client]
MESSAGES = "POST /channels/{channel_id}/messages"
EDITS = "PATCH /channels/{channel_id}/messages/{message_id}"
ORIGINAL = "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"
CALLBACK = "POST /interactions/{interaction_id}/{interaction_token}/callback"


class Clock:
    """Real monotonic time that a test can move forward."""

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
        discord.http.Route.BASE = server.api_url
        yield server


def new_client(intents: discord.Intents | None = None) -> discord.Client:
    # guild_ready_timeout: discord.py waits this long after the last GUILD_CREATE (2 s
    # by default) before it dispatches `ready`.
    return discord.Client(intents=intents or discord.Intents.default(), guild_ready_timeout=0.05)


async def point_gateway(client: discord.Client) -> None:
    """What the adapter does: ask `GET /gateway/bot` and dial its `url`."""
    _, url, _ = await client.http.get_bot_gateway()
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)


@asynccontextmanager
async def connected(client: discord.Client, fake: FakeDiscord) -> AsyncIterator[discord.Client]:
    """Log in, connect through the fake gateway, wait for `ready`; close cleanly after."""
    await client.login(fake.token)
    await point_gateway(client)
    task = asyncio.create_task(client.connect())
    try:
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({ready, task}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            raise AssertionError(f"not ready: {task.exception() if task.done() else 'timeout'}")
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


def text_channel(client: discord.Client, channel_id: int) -> discord.TextChannel:
    channel = client.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


# --------------------------------------------------------------------------------------
# Login and gateway


async def test_login_reads_the_bot_and_its_application(fake: FakeDiscord) -> None:
    async with connected(new_client(), fake) as client:
        assert client.user is not None
        assert client.user.id == fake.bot_user_id and client.user.bot
        assert client.application_id == fake.app_id
    routes = [c.route for c in fake.calls]
    assert routes[:3] == ["GET /users/@me", "GET /oauth2/applications/@me", "GET /gateway/bot"]
    assert fake.calls[0].headers["Authorization"] == f"Bot {fake.token}"
    assert all(c.response_headers["Via"] == "1.1 google" for c in fake.calls)


async def test_a_wrong_token_is_a_login_failure(fake: FakeDiscord) -> None:
    client = new_client()
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()
    assert fake.calls[0].status == 401
    assert fake.calls[0].response == {"message": "401: Unauthorized", "code": 0}


async def test_ready_fills_the_cache_with_the_guild_and_its_channels(fake: FakeDiscord) -> None:
    intents = discord.Intents.default()
    async with connected(new_client(intents), fake) as client:
        guild = client.get_guild(fake.guild_id)
        assert guild is not None and guild.me is not None
        general = text_channel(client, fake.general_channel_id)
        nsfw = text_channel(client, fake.nsfw_channel_id)
        assert (general.name, general.is_nsfw()) == ("general", False)
        assert (nsfw.name, nsfw.is_nsfw()) == ("nsfw", True)
        assert general.category is not None and general.category.name == "Text Channels"
        assert general.permissions_for(guild.me).send_messages
        assert guild.owner_id == fake.owner_id and guild.member_count == 3
    connection = fake.connections[0]
    assert connection.path == "/gateway"
    assert connection.query == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    identify = fake.identify_payload
    assert identify is not None
    assert identify["token"] == fake.token and identify["intents"] == intents.value
    assert identify["properties"]["browser"] == "discord.py" and "shard" not in identify
    assert fake.identifies == 1
    assert [p["t"] for p in connection.sent if p["op"] == 0][:2] == ["READY", "GUILD_CREATE"]


async def test_heartbeats_are_acknowledged(clock: Clock) -> None:
    async with FakeDiscord(clock=clock, heartbeat_interval_ms=50) as fake:
        discord.http.Route.BASE = fake.api_url
        async with connected(new_client(), fake) as client:
            await fake.wait_until(lambda: fake.heartbeats >= 3)
            await fake.wait_until(lambda: client.latency < 1)
        hello = fake.connections[0].sent[0]
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 50
        assert any(p["op"] == 11 for p in fake.connections[0].sent)


@pytest.mark.parametrize("how", ["close-4000", "dropped", "reconnect-op"])
async def test_a_lost_gateway_is_resumed_and_missed_events_replayed(
    fake: FakeDiscord, how: str
) -> None:
    client = new_client()
    seen: list[int] = []
    resumed = asyncio.Event()

    @client.event
    async def on_message(message: discord.Message) -> None:
        seen.append(message.id)

    @client.event
    async def on_resumed() -> None:
        resumed.set()

    async with connected(client, fake):
        if how == "reconnect-op":
            await fake.request_reconnect()  # op 7: discord.py closes and resumes
        else:
            await fake.disconnect(code=4000 if how == "close-4000" else None)
        missed = await fake.deliver_message(fake.general_channel_id, "said while away")
        await asyncio.wait_for(resumed.wait(), 5)
        await fake.wait_until(lambda: int(missed["id"]) in seen)
    assert (fake.identifies, fake.resumes) == (1, 1)
    first, second = fake.connections
    assert second.path == "/gateway/resume"
    resume = next(p for p in second.received if p["op"] == 6)
    replayed = next(p for p in second.sent if p["t"] == "MESSAGE_CREATE")
    assert replayed["d"]["id"] == missed["id"]
    assert resume["d"] == {
        "seq": replayed["s"] - 1,
        "session_id": first.session_id,
        "token": fake.token,
    }
    assert [p["t"] for p in second.sent if p["op"] == 0] == ["MESSAGE_CREATE", "RESUMED"]


async def test_an_auto_sharded_client_connects_every_shard(clock: Clock) -> None:
    class Sharded(discord.AutoShardedClient):
        async def before_identify_hook(
            self, shard_id: int | None, *, initial: bool = False
        ) -> None:
            pass  # discord.py sleeps 5 s before every IDENTIFY but the first

    async with FakeDiscord(clock=clock, shards=2) as fake:
        discord.http.Route.BASE = fake.api_url
        second_guild = fake.add_guild(fake.guild_id + (1 << 22), "Second")
        client = Sharded(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        tree = app_commands.CommandTree(client)
        guilds: list[int | None] = []

        @tree.command(name="where", description="Which guild is this?")
        async def where(interaction: Interaction) -> None:
            guilds.append(interaction.guild_id)
            await interaction.response.send_message("here")

        async with connected(client, fake):
            assert client.shard_count == 2
            assert {g.id: g.shard_id for g in client.guilds} == {fake.guild_id: 0, second_guild: 1}
            await tree.sync()
            for guild_id in (fake.guild_id, second_guild):
                record = await fake.dispatch(fake.slash("where", guild_id=guild_id))
                assert (await fake.wait_for_callback(record.id)).accepted
        assert guilds == [fake.guild_id, second_guild]
        assert fake.identifies == 2
        assert sorted(p["shard"] for p in fake.identify_payloads) == [[0, 2], [1, 2]]
        created = {
            c.shard: [p["d"]["id"] for p in c.sent if p["t"] == "GUILD_CREATE"]
            for c in fake.connections
        }
        assert created == {(0, 2): [str(fake.guild_id)], (1, 2): [str(second_guild)]}


async def test_asking_for_an_intent_the_app_lacks_closes_with_4014(fake: FakeDiscord) -> None:
    fake.message_content_intent = False
    intents = discord.Intents.default()
    intents.message_content = True
    client = new_client(intents)
    await client.login(fake.token)
    await point_gateway(client)
    with pytest.raises(discord.PrivilegedIntentsRequired):
        await asyncio.wait_for(client.connect(), 5)
    await client.close()


# --------------------------------------------------------------------------------------
# Application commands and interactions


async def test_tree_sync_stores_the_commands_with_ids(fake: FakeDiscord) -> None:
    client = new_client()
    tree = app_commands.CommandTree(client)
    image = app_commands.Group(name="image", description="Images")

    @tree.command(name="draw", description="Draw something")
    async def draw(
        interaction: Interaction, prompt: str, size: app_commands.Range[int, 1, 4] = 1
    ) -> None:
        pass

    @image.command(name="upscale", description="Upscale an image")
    async def upscale(interaction: Interaction, factor: int) -> None:
        pass

    tree.add_command(image)
    async with connected(client, fake):
        synced = await tree.sync()
        again = await tree.sync()
        tree.copy_global_to(guild=discord.Object(fake.guild_id))
        in_guild = await tree.sync(guild=discord.Object(fake.guild_id))
    assert sorted(c.name for c in synced) == ["draw", "image"]
    stored = {c["name"]: c for c in fake.commands()}
    assert stored["draw"]["application_id"] == str(fake.app_id)
    assert [o["name"] for o in stored["draw"]["options"]] == ["prompt", "size"]
    assert stored["image"]["options"][0]["type"] == 1  # SUB_COMMAND
    assert {c.id for c in synced} == {c.id for c in again}  # ids survive an overwrite
    assert {c.guild_id for c in in_guild} == {fake.guild_id}
    assert len(fake.commands(fake.guild_id)) == 2


async def test_invalid_commands_are_refused_with_form_errors(fake: FakeDiscord) -> None:
    async with connected(new_client(), fake) as client:
        with pytest.raises(discord.HTTPException) as caught:
            await client.http.bulk_upsert_global_commands(
                fake.app_id, [{"name": "Draw Now", "description": "x" * 101, "type": 1}]
            )
    assert (caught.value.status, caught.value.code) == (400, 50035)
    assert "In 0.description: Must be between 1 and 100 in length." in caught.value.text
    assert "0.name" in caught.value.text


async def test_a_slash_command_defers_streams_edits_and_follows_up(fake: FakeDiscord) -> None:
    client = new_client()
    tree = app_commands.CommandTree(client)
    finished = asyncio.Event()

    @tree.command(name="draw", description="Draw something")
    async def draw(interaction: Interaction, prompt: str) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="drawing")
        await interaction.edit_original_response(content=f"drawing {prompt}")
        original = await interaction.original_response()
        assert original.content == f"drawing {prompt}"
        await interaction.followup.send("and a frame")
        finished.set()

    async with connected(client, fake):
        await tree.sync()
        record = await fake.dispatch(fake.slash("draw", {"prompt": "a cat"}))
        callback = await fake.wait_for_callback(record.id)
        await asyncio.wait_for(finished.wait(), 5)
    assert callback.type == 5 and callback.after_s < INTERACTION_ACK_S
    assert callback.query == {"with_response": "1"}
    assert record.payload["data"]["id"] == fake.command("draw", guild_id=None)["id"]  # type: ignore[index]
    original_id = record.original_message_id
    assert original_id is not None
    assert fake.edits(original_id) == ["drawing", "drawing a cat"]
    original, followup = fake.messages(fake.general_channel_id)
    assert original["id"] == str(original_id) and original["flags"] == 0
    assert (followup["content"], followup["type"]) == ("and a frame", 20)
    assert followup["interaction_metadata"]["original_response_message_id"] == str(original_id)
    assert [(w.action, w.via) for w in fake.writes(fake.general_channel_id)] == [
        ("create", "callback"),
        ("edit", "webhook"),
        ("edit", "webhook"),
        ("create", "webhook"),
    ]


async def test_subcommand_options_arrive_typed_and_resolved(fake: FakeDiscord) -> None:
    client = new_client()
    tree = app_commands.CommandTree(client)
    image = app_commands.Group(name="image", description="Images")
    got: list[Any] = []

    @image.command(name="upscale", description="Upscale an image")
    async def upscale(interaction: Interaction, factor: int, who: discord.Member) -> None:
        got.extend([factor, who])
        await interaction.response.send_message(f"x{factor}", ephemeral=True)

    tree.add_command(image)
    async with connected(client, fake):
        await tree.sync()
        payload = fake.slash("image", {"factor": 2, "who": fake.user_id}, subcommand="upscale")
        record = await fake.dispatch(payload)
        callback = await fake.wait_for_callback(record.id)
    option = payload["data"]["options"][0]
    assert (option["type"], option["name"], option["options"][0]["value"]) == (1, "upscale", 2)
    factor, who = got
    assert factor == 2 and isinstance(who, discord.Member) and who.name == "ada"
    assert callback.type == 4 and callback.data is not None and callback.data["flags"] == EPHEMERAL
    assert fake.messages(fake.general_channel_id) == []
    assert [m["content"] for m in fake.ephemerals(fake.general_channel_id)] == ["x2"]


async def test_autocomplete_answers_with_choices(fake: FakeDiscord) -> None:
    client = new_client()
    tree = app_commands.CommandTree(client)

    async def styles(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=s, value=s) for s in ("ink", "oil") if s.startswith(current)
        ]

    @tree.command(name="paint", description="Paint")
    @app_commands.autocomplete(style=styles)
    async def paint(interaction: Interaction, style: str) -> None:
        pass

    async with connected(client, fake):
        await tree.sync()
        record = await fake.dispatch(fake.autocomplete("paint", {"style": "o"}, focused="style"))
        callback = await fake.wait_for_callback(record.id)
    assert record.payload["data"]["options"] == [
        {"name": "style", "type": 3, "value": "o", "focused": True}
    ]
    assert callback.type == 8
    assert record.choices == [{"name": "oil", "value": "oil"}]


async def test_a_button_click_updates_its_message(fake: FakeDiscord) -> None:
    client = new_client()

    async with connected(client, fake):
        view = discord.ui.View(timeout=None)
        button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
            label="Again", custom_id="again"
        )

        async def clicked(interaction: Interaction) -> None:
            await interaction.response.edit_message(content="again, then")

        button.callback = clicked  # type: ignore[method-assign]
        view.add_item(button)
        sent = await text_channel(client, fake.general_channel_id).send("a poem", view=view)
        record = await fake.dispatch(fake.button("again", message_id=sent.id))
        callback = await fake.wait_for_callback(record.id)
        view.stop()
    assert record.payload["message"]["components"][0]["components"][0]["custom_id"] == "again"
    assert callback.type == 7 and record.original_message_id == sent.id
    assert fake.message(sent.id)["content"] == "again, then"
    assert fake.edits(sent.id) == ["again, then"]


async def test_a_followup_after_a_defer_fills_the_loading_message(fake: FakeDiscord) -> None:
    client = new_client()
    tree = app_commands.CommandTree(client)
    finished = asyncio.Event()

    @tree.command(name="ask", description="Ask")
    async def ask(interaction: Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("the answer")  # edits the "thinking" message
        await interaction.followup.send("a secret", ephemeral=True)
        finished.set()

    async with connected(client, fake):
        await tree.sync()
        record = await fake.dispatch(fake.slash("ask"))
        await asyncio.wait_for(finished.wait(), 5)
    assert record.original_message_id is not None and not record.loading
    assert [m["content"] for m in fake.messages(fake.general_channel_id)] == ["the answer"]
    assert [m["content"] for m in fake.ephemerals(fake.general_channel_id)] == ["a secret"]
    assert len(record.followup_ids) == 1


async def test_the_interaction_token_expires_after_15_minutes(
    fake: FakeDiscord, clock: Clock
) -> None:
    client = new_client()
    tree = app_commands.CommandTree(client)
    later = asyncio.Event()
    outcome: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    @tree.command(name="slow", description="Slow")
    async def slow(interaction: Interaction) -> None:
        await interaction.response.defer()
        await later.wait()
        try:
            await interaction.edit_original_response(content="too late")
        except discord.HTTPException as exc:
            outcome.set_result(exc)

    async with connected(client, fake):
        await tree.sync()
        record = await fake.dispatch(fake.slash("slow"))
        await fake.wait_for_callback(record.id)
        clock.advance(INTERACTION_TOKEN_TTL_S + 1)
        later.set()
        error = await asyncio.wait_for(outcome, 5)
    assert isinstance(error, discord.HTTPException)
    assert (error.status, error.code, error.text) == (401, 50027, "Invalid Webhook Token")


async def test_a_callback_after_3_seconds_is_an_unknown_interaction(
    fake: FakeDiscord, clock: Clock
) -> None:
    client = new_client()
    tree = app_commands.CommandTree(client)
    go = asyncio.Event()
    outcome: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    @tree.command(name="late", description="Late")
    async def late(interaction: Interaction) -> None:
        await go.wait()
        try:
            await interaction.response.defer()
        except discord.HTTPException as exc:
            outcome.set_result(exc)

    async with connected(client, fake):
        await tree.sync()
        record = await fake.dispatch(fake.slash("late"))
        clock.advance(INTERACTION_ACK_S + 0.5)
        go.set()
        error = await asyncio.wait_for(outcome, 5)
    assert isinstance(error, discord.NotFound) and error.code == 10062
    assert record.callbacks[0].after_s > INTERACTION_ACK_S and not record.acknowledged


async def test_a_redelivered_interaction_is_already_acknowledged(fake: FakeDiscord) -> None:
    client = new_client()
    tree = app_commands.CommandTree(client)
    outcomes: asyncio.Queue[BaseException | None] = asyncio.Queue()

    @tree.command(name="once", description="Once")
    async def once(interaction: Interaction) -> None:
        try:
            await interaction.response.defer()
        except discord.HTTPException as exc:
            await outcomes.put(exc)
        else:
            await outcomes.put(None)

    async with connected(client, fake):
        await tree.sync()
        payload = fake.slash("once")
        record = await fake.dispatch(payload)
        assert await asyncio.wait_for(outcomes.get(), 5) is None
        await fake.dispatch(payload)  # the same interaction, delivered again
        error = await asyncio.wait_for(outcomes.get(), 5)
    assert isinstance(error, discord.HTTPException)
    assert (error.status, error.code) == (400, 40060)
    assert [c.status for c in record.callbacks] == [200, 400]


# --------------------------------------------------------------------------------------
# Channels, history and threads


async def test_history_hides_content_without_the_message_content_intent(fake: FakeDiscord) -> None:
    channel_id = fake.general_channel_id
    fake.add_message(channel_id, "a plain line")
    fake.add_message(channel_id, f"<@{fake.bot_user_id}> tell me a story")
    fake.add_message(channel_id, "once upon a time", author_id=fake.bot_user_id)
    async with connected(new_client(), fake) as client:
        channel = text_channel(client, channel_id)
        with_intent = [m.content async for m in channel.history(limit=10)]
        fake.message_content_intent = False
        without = [m.content async for m in channel.history(limit=10)]
        oldest = [m.content async for m in channel.history(limit=2, oldest_first=True)]
    assert with_intent == [
        "once upon a time",
        f"<@{fake.bot_user_id}> tell me a story",
        "a plain line",
    ]
    assert without == ["once upon a time", f"<@{fake.bot_user_id}> tell me a story", ""]
    assert oldest == ["", f"<@{fake.bot_user_id}> tell me a story"]


async def test_history_pages_before_and_after(fake: FakeDiscord) -> None:
    ids = [int(fake.add_message(fake.general_channel_id, f"line {i}")["id"]) for i in range(5)]
    async with connected(new_client(), fake) as client:
        channel = text_channel(client, fake.general_channel_id)
        before = [m.id async for m in channel.history(limit=2, before=discord.Object(ids[3]))]
        after = [m.id async for m in channel.history(limit=2, after=discord.Object(ids[1]))]
        around = [m.id async for m in channel.history(limit=3, around=discord.Object(ids[2]))]
    assert before == [ids[2], ids[1]]
    assert after == [ids[2], ids[3]]  # discord.py turns "after" pages oldest first
    assert around == [ids[3], ids[2], ids[1]]


async def test_messages_over_the_limit_or_empty_are_refused(fake: FakeDiscord) -> None:
    async with connected(new_client(), fake) as client:
        channel = text_channel(client, fake.general_channel_id)
        with pytest.raises(discord.HTTPException) as too_long:
            await channel.send("x" * (MAX_MESSAGE_CHARS + 1))
        with pytest.raises(discord.HTTPException) as empty:
            await channel.send("")
        fits = await channel.send("x" * MAX_MESSAGE_CHARS)
    assert (too_long.value.code, too_long.value.status) == (50035, 400)
    assert "In content: Must be 2000 or fewer in length." in too_long.value.text
    assert (empty.value.code, empty.value.text) == (50006, "Cannot send an empty message")
    assert len(fake.message(fits.id)["content"]) == MAX_MESSAGE_CHARS


async def test_threads_start_from_a_message_or_alone(fake: FakeDiscord) -> None:
    async with connected(new_client(), fake) as client:
        channel = text_channel(client, fake.general_channel_id)
        start = await channel.send("chapter one")
        thread = await start.create_thread(name="Chapter one")
        await thread.send("in the thread")
        side = await channel.create_thread(name="Notes", type=discord.ChannelType.public_thread)
        await fake.wait_until(lambda: client.get_channel(side.id) is not None)
    assert (thread.id, thread.parent_id, thread.type) == (
        start.id,
        channel.id,
        discord.ChannelType.public_thread,
    )
    assert [t["name"] for t in fake.threads(fake.general_channel_id)] == ["Chapter one", "Notes"]
    assert [m["content"] for m in fake.messages(thread.id)] == ["in the thread"]
    assert fake.message(start.id)["thread"]["id"] == str(thread.id)


async def test_typing_and_reactions(fake: FakeDiscord) -> None:
    async with connected(new_client(), fake) as client:
        channel = text_channel(client, fake.general_channel_id)
        async with channel.typing():
            message = await channel.send("done")
        await message.add_reaction("\N{THUMBS UP SIGN}")
    assert fake.calls_to("POST /channels/{channel_id}/typing")[0].status == 204
    assert fake.message(message.id)["reactions"][0]["emoji"]["name"] == "\N{THUMBS UP SIGN}"


async def test_unknown_routes_and_channels_are_not_found(fake: FakeDiscord) -> None:
    async with connected(new_client(), fake) as client:
        with pytest.raises(discord.NotFound) as unknown_channel:
            await client.fetch_channel(1)
        with pytest.raises(discord.NotFound) as unknown_route:
            await client.http.request(discord.http.Route("GET", "/no/such/route"))
    assert (unknown_channel.value.code, unknown_channel.value.text) == (10003, "Unknown Channel")
    assert (unknown_route.value.code, unknown_route.value.text) == (0, "404: Not Found")


# --------------------------------------------------------------------------------------
# Rate limits and scripted failures


async def test_a_route_429_is_waited_out_and_retried(fake: FakeDiscord) -> None:
    fake.fail_next("POST", r"/channels/\d+/messages", 429, retry_after=0.2)
    async with connected(new_client(), fake) as client:
        started = time.monotonic()
        await text_channel(client, fake.general_channel_id).send("patience")
        waited = time.monotonic() - started
    first, second = fake.calls_to(MESSAGES)
    assert (first.status, second.status) == (429, 200) and waited >= 0.2
    assert first.response == {
        "message": "You are being rate limited.",
        "retry_after": 0.2,
        "global": False,
    }
    assert first.response_headers["X-RateLimit-Scope"] == "user"
    assert fake.rate_limited["message_create"] == 1


async def test_a_global_429_holds_every_request(fake: FakeDiscord) -> None:
    fake.fail_next("GET", r"/channels/\d+", 429, retry_after=0.2, global_=True)
    async with connected(new_client(), fake) as client:
        started = time.monotonic()
        channel = await client.fetch_channel(fake.general_channel_id)
        waited = time.monotonic() - started
    assert channel.id == fake.general_channel_id and waited >= 0.2
    limited = fake.calls_to("GET /channels/{channel_id}")[0]
    assert limited.response["global"] is True
    assert limited.response_headers["X-RateLimit-Global"] == "true"
    assert limited.response_headers["X-RateLimit-Scope"] == "global"


async def test_a_500_is_retried_but_a_503_is_raised(fake: FakeDiscord) -> None:
    async with connected(new_client(), fake) as client:
        channel = text_channel(client, fake.general_channel_id)
        fake.fail_next("POST", r"/channels/\d+/messages", 500)
        await channel.send("after one retry")  # discord.py sleeps 1 s first
        fake.fail_next("POST", r"/channels/\d+/messages", 503)
        with pytest.raises(discord.DiscordServerError) as unavailable:
            await channel.send("not retried")
    assert [c.status for c in fake.calls_to(MESSAGES)] == [500, 200, 503]
    assert fake.calls_to(MESSAGES)[0].response == {
        "message": "500: Internal Server Error",
        "code": 0,
    }
    assert unavailable.value.status == 503


@pytest.mark.parametrize(
    ("status", "code", "error", "text"),
    [
        (403, 50013, discord.Forbidden, "Missing Permissions"),
        (
            400,
            30046,
            discord.HTTPException,
            "Maximum number of edits to messages older than 1 hour reached. Try again later.",
        ),
        (404, 10008, discord.NotFound, "Unknown Message"),
    ],
)
async def test_scripted_errors_reach_discord_py_with_their_codes(
    fake: FakeDiscord, status: int, code: int, error: type[discord.HTTPException], text: str
) -> None:
    async with connected(new_client(), fake) as client:
        message = await text_channel(client, fake.general_channel_id).send("first")
        fake.fail_next("PATCH", r"/channels/\d+/messages/\d+", status, code)
        with pytest.raises(error) as caught:
            await message.edit(content="second")
    assert (caught.value.status, caught.value.code, caught.value.text) == (status, code, text)
    assert fake.message(message.id)["content"] == "first"


async def test_rate_limit_headers_pace_discord_py_without_a_429(fake: FakeDiscord) -> None:
    fake.set_rate_limit("message_edit", 2, per_s=0.4)
    async with connected(new_client(), fake) as client:
        message = await text_channel(client, fake.general_channel_id).send("v0")
        for version in range(1, 5):
            await message.edit(content=f"v{version}")
    assert fake.rate_limited["message_edit"] == 0
    assert fake.edits(message.id) == ["v1", "v2", "v3", "v4"]
    edits = [w.at for w in fake.writes(fake.general_channel_id) if w.action == "edit"]
    assert edits[2] - edits[0] >= 0.35  # the third edit waited for the next window
    headers = fake.calls_to(EDITS)[0].response_headers
    assert headers["X-RateLimit-Limit"] == "2" and headers["X-RateLimit-Remaining"] == "1"
    assert float(headers["X-RateLimit-Reset-After"]) <= 0.4
    assert float(headers["X-RateLimit-Reset"]) > time.time() - 5
    assert headers["X-RateLimit-Bucket"] and headers["Via"] == "1.1 google"


async def test_webhook_edits_are_paced_per_interaction_token(fake: FakeDiscord) -> None:
    fake.set_rate_limit("webhook", 1, per_s=0.2)
    client = new_client()
    tree = app_commands.CommandTree(client)
    finished = asyncio.Event()

    @tree.command(name="stream", description="Stream")
    async def stream(interaction: Interaction) -> None:
        await interaction.response.defer()
        for part in ("a", "ab", "abc"):
            await interaction.edit_original_response(content=part)
        finished.set()

    async with connected(client, fake):
        await tree.sync()
        record = await fake.dispatch(fake.slash("stream"))
        await asyncio.wait_for(finished.wait(), 5)
    assert fake.rate_limited["webhook"] == 0
    assert fake.edits(record.original_message_id or 0) == ["a", "ab", "abc"]
    times = [c.at for c in fake.calls_to(ORIGINAL)]
    assert times[2] - times[0] >= 0.35


async def test_a_429_answer_has_discords_shape(fake: FakeDiscord) -> None:
    fake.set_rate_limit("message_create", 1, per_s=5)
    url = f"{fake.api_url}/channels/{fake.general_channel_id}/messages"
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"content": "one"}, headers=headers) as first:
            assert first.status == 200
            assert first.headers["Content-Type"] == "application/json"
            assert first.headers["X-RateLimit-Remaining"] == "0"
        async with session.post(url, json={"content": "two"}, headers=headers) as second:
            body = await second.json()
            assert second.status == 429
            assert second.headers["Retry-After"] == "5"
            assert second.headers["X-RateLimit-Scope"] == "user"
            assert second.headers["Via"] == "1.1 google"
    assert body["message"] == "You are being rate limited." and body["global"] is False
    assert 4 < body["retry_after"] <= 5
    assert fake.rate_limited["message_create"] == 1
    assert [m["content"] for m in fake.messages(fake.general_channel_id)] == ["one"]


async def test_waiting_for_calls_by_route_or_predicate(fake: FakeDiscord) -> None:
    async with connected(new_client(), fake) as client:
        channel = text_channel(client, fake.general_channel_id)
        sending = asyncio.create_task(channel.send("hello"))
        calls = await fake.wait_for_calls(MESSAGES)
        await sending
        gets = await fake.wait_for_calls(lambda call: call.method == "GET", count=2)
    assert calls[0].json["content"] == "hello"
    assert calls[0].ok and calls[0].params == {"channel_id": str(fake.general_channel_id)}
    assert len(gets) >= 2


async def test_a_repeated_nonce_returns_the_first_message(fake: FakeDiscord) -> None:
    async with connected(new_client(), fake) as client:
        channel = text_channel(client, fake.general_channel_id)
        first = await channel.send("once", nonce="42")
        again = await channel.send("once", nonce="42")
    assert again.id == first.id
    assert [m["content"] for m in fake.messages(fake.general_channel_id)] == ["once"]


async def test_extra_routes_can_be_served(fake: FakeDiscord) -> None:
    def guild(call: Call) -> dict[str, Any]:
        return {"id": call.params["guild_id"], "name": "Skald Test Guild"}

    fake.handle("GET", "/guilds/{guild_id}/preview", guild)
    async with connected(new_client(), fake) as client:
        preview = await client.http.request(
            discord.http.Route("GET", "/guilds/{guild_id}/preview", guild_id=fake.guild_id)
        )
    assert preview == {"id": str(fake.guild_id), "name": "Skald Test Guild"}


async def test_an_interaction_in_a_thread_answers_there(fake: FakeDiscord) -> None:
    client = new_client()
    tree = app_commands.CommandTree(client)

    @tree.command(name="here", description="Here")
    async def here(interaction: Interaction) -> None:
        await interaction.response.send_message(f"in {getattr(interaction.channel, 'name', None)}")

    async with connected(client, fake) as client:
        await tree.sync()
        start = await text_channel(client, fake.general_channel_id).send("chapter two")
        thread = await start.create_thread(name="Chapter two")
        await fake.wait_until(lambda: client.get_channel(thread.id) is not None)
        record = await fake.dispatch(fake.slash("here", channel_id=thread.id))
        await fake.wait_for_callback(record.id)
    assert record.payload["channel"]["type"] == 11
    assert [m["content"] for m in fake.messages(thread.id)] == ["in Chapter two"]
