"""A `skaldbot run` console bot on a real `vllm serve --api-key`, given the URL in the form
OpenAI clients take (http://127.0.0.1:PORT/v1) and the key in SKALD_ENGINE_API_KEY."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.bot_processes import START_TIMEOUT_S, BotFolder
from tests.vllm_servers import VllmServer

pytestmark = pytest.mark.engine

KEY = "sk-skald-fleet-7c31"


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """One `vllm serve` on the bundled model, started with --api-key."""
    server = VllmServer(tmp_path_factory.mktemp("vllm-logs"), api_key=KEY)
    server.launch()
    try:
        asyncio.run(server.ready())
        yield server
    finally:
        server.stop()


def test_the_server_really_wants_the_key(keyed_server: VllmServer) -> None:
    # Without this, the test below would pass against a server that ignores keys.
    models = keyed_server.url + "/v1/models"
    assert httpx.get(models, timeout=10).status_code == 401
    authorized = httpx.get(models, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert authorized.status_code == 200


def test_a_console_command_is_answered_through_the_keyed_server(
    keyed_server: VllmServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKALD_ENGINE_API_KEY", KEY)  # the bot process inherits it
    folder = BotFolder(tmp_path, f"{keyed_server.url}/v1")
    try:
        bot = folder.start_bot()
        answer = bot.type('/haiku subject:"the harbour at dawn"', timeout_s=START_TIMEOUT_S)
        # A reply from the model: text, and none of the bot's failure notices (each of
        # which names its incident: not available, failed, cut off).
        assert answer.strip(), bot.log_tail()
        assert "(incident" not in answer, answer + bot.log_tail()
        # The fleet is the one server, named by its root URL, and it served that reply.
        status = bot.type("/skald status")
        assert f"Server {keyed_server.url} up, 0 running, 1 served" in status, status
    finally:
        folder.stop_all()
