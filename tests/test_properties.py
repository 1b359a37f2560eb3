"""Whatever people type or a platform sends, the bot answers without a traceback or a hang,
and never sends back a mention it did not mean.

Hypothesis draws the inputs: command lines, option values, Slack slash commands and button
payloads (signed, over a real socket to the adapter), Discord interactions (through
discord.py from the fake Discord). Few examples each, no deadline: a busy 2-core machine
must not turn a slow example into a failure, and the suite stays quick.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import discord
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.slack.adapter import SlackAdapter
from bot.adapters.slack.commands import parse_slash
from bot.adapters.slack.credentials import SlackCredentials
from bot.adapters.slack.markup import decode, escape, outgoing, unescape
from bot.commandline import ParsedCommand, parse_command
from bot.config import SlackSettings
from bot.core import Core
from bot.errors import OptionError, UserError
from bot.options import UserId, build_options
from bot.plugin import CommandSpec
from tests.conftest import make_config
from tests.fake_discord import FakeDiscord
from tests.fake_slack import FakeSlack, sign, slash_command_form
from tests.scripted_engine import ScriptedEngine
from tests.test_discord_adapter import start_bot, stop_bot
from tests.test_discord_mentions import NO_PINGS, message_payloads

T = TypeVar("T")
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
# Pure functions: many examples are cheap. Over the wire: a few, each a real request.
FAST = settings(max_examples=150, deadline=None, database=None)
WIRE = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Text people type: any characters, with the ones parsers and Slack care about made likely.
typed = st.lists(
    st.one_of(
        st.sampled_from([*' :"\\“”<>@&!#|\n\t/', "&lt;", "&gt;", "&amp;", "<@U1|a>"]),
        st.characters(codec="utf-8"),
    ),
    max_size=40,
).map("".join)
# What a button's custom id may hold between its colons.
ids = st.text(alphabet=st.characters(codec="utf-8", exclude_characters=":"), max_size=40)
MENTIONS = ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<https://evil.example|x>")


def run(loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, T]) -> T:
    """Run one step on the test's own loop (Hypothesis calls the test body synchronously)."""
    return loop.run_until_complete(asyncio.wait_for(work, 20))


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, CommandSpec]:
    """Every built-in command, as the core loads them."""

    async def load() -> dict[str, CommandSpec]:
        core = await Core.open(make_config(tmp_path_factory.mktemp("cmds")), ScriptedEngine())
        try:
            return dict(core.plugins.commands)
        finally:
            await core.close()

    return asyncio.run(load())


# --- parsers and conversion -------------------------------------------------------------------


def test_any_command_line_parses_or_is_refused_in_words(
    commands: Mapping[str, CommandSpec],
) -> None:
    @FAST
    @given(word=st.sampled_from(sorted({c.words[0] for c in commands.values()})), rest=typed)
    def check(word: str, rest: str) -> None:
        try:
            parsed = parse_command(f"/{word} {rest}", commands)
        except UserError:
            return
        assert isinstance(parsed, ParsedCommand)
        assert all(isinstance(v, str) for v in parsed.options.values())

    check()


def test_any_option_value_converts_or_is_refused_naming_the_option(
    commands: Mapping[str, CommandSpec],
) -> None:
    specs = [(c, o) for c in commands.values() for o in c.options]

    @FAST
    @given(
        pair=st.sampled_from(specs),
        raw=st.one_of(typed, st.integers(), st.floats(), st.booleans()),
    )
    def check(pair: tuple[CommandSpec, Any], raw: object) -> None:
        command, option = pair
        try:
            build_options(command.options_type, command.options, {option.name: raw})
        except OptionError as exc:
            assert exc.option == option.name or exc.option in {o.name for o in command.options}
        # Typed text never names a person: only an adapter's resolution does.
        if option.kind == "user":
            with pytest.raises(OptionError):
                option.convert(raw)

    check()


def test_slack_command_text_never_turns_typed_text_into_a_person(
    commands: Mapping[str, CommandSpec],
) -> None:
    @FAST
    @given(text=typed)
    def check(text: str) -> None:
        # What Slack sends: the person's own <, > and & escaped.
        sent = f"block user:{escape(text)}"
        try:
            parsed = parse_slash("/skald", sent, "", commands)
        except UserError:
            return
        assert not isinstance(parsed.options.get("user"), UserId)

    check()


def test_escaping_leaves_no_markup_and_decoding_undoes_it() -> None:
    @FAST
    @given(text=typed)
    def check(text: str) -> None:
        sent = outgoing({"text": text, "blocks": [{"type": "mrkdwn", "text": text}]})
        for out in (sent["text"], sent["blocks"][0]["text"]):
            assert "<" not in out and ">" not in out
            assert unescape(out) == text
        assert decode(escape(text)) == text

    check()


# --- Slack over the wire ----------------------------------------------------------------------


class Tracebacks(logging.Handler):
    """Collects log records that carry a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@pytest.fixture
def tracebacks() -> Iterator[Tracebacks]:
    handler = Tracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def _slack_texts(slack: FakeSlack) -> list[str]:
    texts = []
    for call in slack.calls:
        texts.append(str(call.params.get("text", "")))
        texts += [json.dumps(call.params.get("blocks") or [])]
    return texts


def test_slack_commands_and_buttons_never_fail_or_echo_a_mention(
    tmp_path: Path, tracebacks: Tracebacks
) -> None:
    loop = asyncio.new_event_loop()

    engine = ScriptedEngine()
    # Every request differs (Slack's own trigger ids do): a copy would be refused as a replay.
    trigger = itertools.count()

    async def open_all() -> tuple[FakeSlack, Core, SlackAdapter, aiohttp.ClientSession]:
        slack = FakeSlack()
        await slack.start()
        core = await Core.open(make_config(tmp_path), engine)
        adapter = SlackAdapter(
            core,
            SlackCredentials(slack.bot_token, SECRET, None, slack.url),
            SlackSettings(host="127.0.0.1", port=0, updates_per_minute=6000),
        )
        await adapter.start()
        return slack, core, adapter, aiohttp.ClientSession()

    slack, core, adapter, http = run(loop, open_all())
    url = f"http://127.0.0.1:{adapter.port}/slack/events"

    async def post(body: bytes) -> int:
        headers = {**sign(SECRET, body), "Content-Type": "application/x-www-form-urlencoded"}
        async with http.post(url, data=body, headers=headers) as response:
            status = response.status
        # Let the work the request started finish before the next one.
        while adapter._tasks:
            await asyncio.gather(*list(adapter._tasks), return_exceptions=True)
        return status

    words = sorted({c.words[0] for c in core.plugins.commands.values()})
    value = st.one_of(typed, st.integers(), st.none(), st.lists(typed, max_size=2))

    @WIRE
    @given(
        word=st.sampled_from(words),
        text=typed,
        mention=st.sampled_from(MENTIONS),
        action=st.dictionaries(st.sampled_from(["action_id", "value", "type"]), value),
        user=st.one_of(value, st.fixed_dictionaries({"id": value})),
    )
    def check(word: str, text: str, mention: str, action: dict[str, Any], user: Any) -> None:
        # The model repeats a mention; the person types anything.
        engine.script = ScriptedEngine.replying(f"{mention} {text}")
        body = slash_command_form(f"/{word}", escape(text), trigger_id=f"t{next(trigger)}")
        assert run(loop, post(body)) == 200
        payload = {
            "type": "block_actions",
            "team": {"id": "T123"},
            "user": user,
            "channel": {"id": "C1"},
            "actions": [{"action_id": "skald_regenerate", "value": "x", **action}],
            "trigger_id": f"t{next(trigger)}",
        }
        # Served (200), matched no listener (404) or malformed (400): never an error.
        assert run(loop, post(urlencode({"payload": json.dumps(payload)}).encode())) in (
            200,
            400,
            404,
        )
        for sent in _slack_texts(slack):
            assert not any(m in sent for m in MENTIONS), sent
        assert tracebacks.records == []

    try:
        check()
    finally:

        async def close_all() -> None:
            await http.close()
            await adapter.close()
            await core.close()
            await slack.close()

        run(loop, close_all())
        loop.close()


# --- Discord over the wire --------------------------------------------------------------------


@pytest.fixture
def discord_addresses() -> Iterator[None]:
    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE = base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


def test_discord_interactions_never_fail_or_ping(
    tmp_path: Path, tracebacks: Tracebacks, discord_addresses: None
) -> None:
    loop = asyncio.new_event_loop()
    fake = FakeDiscord()
    run(loop, fake.start())
    bot = run(loop, start_bot(fake, tmp_path, ScriptedEngine()))
    settle: Callable[[], Coroutine[Any, Any, None]] = bot.settled

    @WIRE
    @given(
        text=typed,
        mention=st.sampled_from(("@everyone", "@here", "<@1210000000000000300>")),
        action=st.one_of(st.sampled_from(["stop", "regenerate", "continue"]), ids),
        key=ids,
    )
    def check(text: str, mention: str, action: str, key: str) -> None:
        bot.engine.script = ScriptedEngine.replying(f"{mention} {text}")

        async def interact() -> None:
            payload = fake.slash("rewrite", {"text": text or "x", "style": "noir"})
            record = await fake.dispatch(payload)
            await fake.wait_for_callback(record.id)
            await settle()
            clicked = await fake.dispatch(fake.button(f"skald:{action}:{key}"))
            await fake.wait_for_callback(clicked.id)
            await settle()

        run(loop, interact())
        for route, body in message_payloads(fake):
            assert body.get("allowed_mentions") == NO_PINGS, (route, body)
        assert tracebacks.records == []

    try:
        check()
    finally:
        run(loop, stop_bot(bot))
        run(loop, fake.close())
        loop.close()
