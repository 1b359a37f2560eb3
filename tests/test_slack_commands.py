"""Slack slash commands from the same declarations: names, parsing, the app manifest."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from bot.adapters.slack.commands import BOT_SCOPES, app_manifest, parse_slash
from bot.adapters.slack.credentials import SlackCredentials
from bot.cli import main
from bot.core import Core
from bot.errors import UserError

REPO = Path(__file__).resolve().parent.parent


def test_slash_text_parses_like_the_console(core: Core) -> None:
    commands = core.plugins.commands
    parsed = parse_slash("/story", 'start premise:"a lighthouse" genre:mystery', "", commands)
    assert (parsed.name, parsed.options) == (
        "story start",
        {"premise": "a lighthouse", "genre": "mystery"},
    )
    parsed = parse_slash("/skald-rewrite", "hello there style:noir", "skald-", commands)
    assert (parsed.name, parsed.options) == ("rewrite", {"text": "hello there", "style": "noir"})
    with pytest.raises(UserError, match="Unbalanced quote"):
        parse_slash("/story", 'start premise:"open', "", commands)


def test_the_manifest_lists_every_command_group_with_scopes(core: Core) -> None:
    manifest = app_manifest(core.plugins.commands, request_url="https://bot.example/slack/events")
    names = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert names == [
        "/help",
        "/lyrics",
        "/prefs",
        "/rewrite",
        "/skald",
        "/story",
        "/summarize",
        "/tutor",
    ]
    # The limits of Slack's app manifest format.
    assert len(manifest["display_information"]["name"]) <= 35
    assert len(manifest["display_information"]["description"]) <= 140
    assert len(manifest["features"]["bot_user"]["display_name"]) <= 80
    for command in manifest["features"]["slash_commands"]:
        assert re.fullmatch(r"/[a-z0-9_-]{1,31}", command["command"])
        assert 1 <= len(command["description"]) <= 2000
        assert len(command["usage_hint"]) <= 1000
        assert command["url"] == "https://bot.example/slack/events"
    assert set(manifest) == {"display_information", "features", "oauth_config", "settings"}
    assert manifest["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)
    assert manifest["settings"]["socket_mode_enabled"] is False
    socket = app_manifest(core.plugins.commands, socket_mode=True, prefix="skald-")
    assert socket["settings"]["socket_mode_enabled"] is True
    assert all("url" not in c for c in socket["features"]["slash_commands"])
    assert socket["features"]["slash_commands"][0]["command"] == "/skald-help"


def test_skaldbot_prints_the_manifest_as_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "--config",
                str(REPO / "config.yaml"),
                "commands",
                "--format",
                "slack",
                "--request-url",
                "https://bot.example/slack/events",
            ]
        )
        == 0
    )
    manifest = yaml.safe_load(capsys.readouterr().out)
    assert manifest["display_information"]["name"] == "Skald"
    commands = manifest["features"]["slash_commands"]
    # Every built-in command, beside those of installed plugin packages (the example /muse).
    built_in = {"help", "story", "lyrics", "summarize", "tutor", "rewrite", "prefs", "skald"}
    assert {"/" + name for name in built_in} <= {c["command"] for c in commands}
    # Slack sends mentions as ids, so an option that names a person gets a real one.
    assert all(c["should_escape"] for c in commands)
    json.dumps(manifest)  # plain data all the way down


def test_credentials_come_from_the_environment_and_never_print() -> None:
    assert SlackCredentials.from_env({"SLACK_BOT_TOKEN": "xoxb-1"}) is None
    http = SlackCredentials.from_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-secret-1",
            "SLACK_SIGNING_SECRET": "shh-secret-2",
            "SKALD_SLACK_API_URL": "http://127.0.0.1:9/api",
        }
    )
    assert http is not None and http.mode == "http"
    assert http.api_url == "http://127.0.0.1:9/api/"
    assert "secret" not in repr(http)
    socket = SlackCredentials.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})
    assert socket is not None and socket.mode == "socket"
