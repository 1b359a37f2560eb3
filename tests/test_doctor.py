"""`skaldbot doctor` on whole setups: one line per check, exit 1 naming what failed.

The platforms and the fleet are the local fakes (tests/fake_slack.py, fake_discord.py,
fake_openai.py), reached over real sockets; the database is a real SQLite file. The doctor
runs in a thread of its own, as from a terminal, while the fakes serve on the test's loop.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.adapters.slack.commands import BOT_SCOPES
from bot.cli import main
from tests.fake_discord import FakeDiscord
from tests.fake_openai import FakeOpenAI
from tests.fake_slack import FakeSlack
from tests.test_faults_storage import make_database, zero_a_middle_page

SLACK_TOKEN = "xoxb-doctor-1a2b3c"
SIGNING_SECRET = "doctor-signing-secret-9z"
ENGINE_KEY = "sk-doctor-engine-77"
PLATFORM_VARIABLES = (
    "DISCORD_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SKALD_CONFIG",
    "SKALD_METRICS_PORT",
    "SKALD_SLACK_PORT",
    "SKALD_ENGINE_API_KEY",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder and a config file with nothing of the developer's environment."""
    for name in PLATFORM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"data_dir: data\nslack:\n  host: 127.0.0.1\n  port: {free_port()}\n", encoding="utf-8"
    )
    monkeypatch.setenv("SKALD_CONFIG", str(config))
    monkeypatch.setenv("SKALD_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def engine_server(monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """A keyed fake `vllm serve`, named the way OpenAI clients take it (…/v1)."""
    server = FakeOpenAI(api_key=ENGINE_KEY)
    server.start()
    monkeypatch.setenv("SKALD_ENGINE_URLS", server.url + "/v1")
    monkeypatch.setenv("SKALD_ENGINE_API_KEY", ENGINE_KEY)
    return server


async def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """Exit status and printed lines of `skaldbot doctor`."""
    status = await asyncio.to_thread(main, ["doctor"])
    out = capsys.readouterr().out
    for secret in (SLACK_TOKEN, SIGNING_SECRET, ENGINE_KEY, FakeDiscord().token):
        assert secret not in out
    return status, out.splitlines()


def line(lines: list[str], check: str) -> str:
    """The one line of `check` ("slack", "engine server URL", ...)."""
    (found,) = [x for x in lines if x.split(": ", 1)[0][5:] == check]
    return found


@pytest.fixture
async def slack(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(bot_token=SLACK_TOKEN, scopes=BOT_SCOPES)
    await fake.start()
    monkeypatch.setenv("SKALD_SLACK_API_URL", fake.url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    yield fake
    await fake.close()


async def test_a_good_setup_passes_every_check(
    setup: Path,
    engine_server: FakeOpenAI,
    slack: FakeSlack,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await make_database(setup / "data", rows=3)
    monkeypatch.setenv("SKALD_METRICS_PORT", str(free_port()))
    try:
        status, lines = await doctor(capsys)
    finally:
        engine_server.close()
    assert status == 0, lines
    assert [x.split(": ", 1)[0] for x in lines[:-1]] == [
        "ok   config",
        f"ok   engine server {engine_server.url}",
        "ok   integrity_check",
        "ok   schema",
        "ok   metrics port",
        "ok   slack",
        "ok   slack port",
    ]
    assert lines[-1] == "No problems found."
    # Keys only, never values; data_dir says the default ("data" beside the config file).
    assert lines[0].endswith(
        "differs from the default: engine.backend, engine.urls, slack.host, slack.port, "
        "metrics_port"
    )
    assert "up: fake/skald-test-model, context 4096 tokens" in line(
        lines, f"engine server {engine_server.url}"
    )
    assert "every scope granted" in line(lines, "slack")
    # The probes carried the key.
    assert ("/v1/models", ENGINE_KEY) in engine_server.bearers


async def test_a_wrong_slack_token_is_named(
    setup: Path,
    engine_server: FakeOpenAI,
    slack: FakeSlack,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-not-the-right-one")
    try:
        status, lines = await doctor(capsys)
    finally:
        engine_server.close()
    assert status == 1
    assert line(lines, "slack") == (
        "FAIL slack: auth.test refused SLACK_BOT_TOKEN (invalid_auth): copy the Bot User "
        "OAuth Token (xoxb-...) from the app's OAuth & Permissions page"
    )
    assert lines[-1] == "Problems found: slack."
    assert "xoxb-not-the-right-one" not in "\n".join(lines)


async def test_a_missing_slack_scope_is_named(
    setup: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeSlack(bot_token=SLACK_TOKEN, scopes=("commands", "chat:write")) as fake:
        monkeypatch.setenv("SKALD_SLACK_API_URL", fake.url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
        monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-doctor")
        status, lines = await doctor(capsys)
    assert status == 1
    assert "but the token lacks the scopes chat:write.public, channels:history" in line(
        lines, "slack"
    )


async def test_a_remote_server_that_is_down_is_named(
    setup: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("SKALD_ENGINE_URLS", down)
    status, lines = await doctor(capsys)
    assert status == 1
    assert line(lines, f"engine server {down}") == (
        f"FAIL engine server {down}: down (connection failed)"
    )
    assert lines[-1] == f"Problems found: engine server {down}."


async def test_a_damaged_database_is_named(
    setup: Path, engine_server: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    path = await make_database(setup / "data", rows=300)
    zero_a_middle_page(path)
    try:
        status, lines = await doctor(capsys)
    finally:
        engine_server.close()
    assert status == 1
    assert line(lines, "integrity_check").startswith("FAIL integrity_check: ")
    assert lines[-2] == "Problems found: integrity_check."
    assert lines[-1].startswith("The file was not changed.")


async def test_a_port_in_use_is_named(
    setup: Path,
    engine_server: FakeOpenAI,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("SKALD_METRICS_PORT", str(port))
        try:
            status, lines = await doctor(capsys)
        finally:
            engine_server.close()
    assert status == 1
    assert line(lines, "metrics port").startswith(
        f"FAIL metrics port: 127.0.0.1:{port} cannot be used (Address already in use)"
    )


async def test_a_broken_config_is_a_finding_not_a_traceback(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (setup / "config.yaml").write_text("fairness:\n  queue_size: lots\n", encoding="utf-8")
    status, lines = await doctor(capsys)
    assert status == 1
    assert line(lines, "config").startswith("FAIL config: fairness.queue_size")


async def test_discord_login_and_the_message_content_intent(
    setup: Path,
    engine_server: FakeOpenAI,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        async with FakeDiscord(message_content_intent=False) as fake:
            monkeypatch.setenv("SKALD_DISCORD_API_URL", fake.api_url)
            monkeypatch.setenv("DISCORD_TOKEN", fake.token)
            status, lines = await doctor(capsys)
            assert status == 1
            assert "but the Message Content intent is off" in line(lines, "discord")
            monkeypatch.setenv("DISCORD_TOKEN", "not-a-discord-token")
            status, lines = await doctor(capsys)
            assert status == 1
            assert line(lines, "discord").startswith("FAIL discord: Discord refused DISCORD_TOKEN")
        async with FakeDiscord() as fake:
            monkeypatch.setenv("SKALD_DISCORD_API_URL", fake.api_url)
            monkeypatch.setenv("DISCORD_TOKEN", fake.token)
            status, lines = await doctor(capsys)
            assert status == 0, lines
            assert "Message Content intent on" in line(lines, "discord")
    finally:
        engine_server.close()
