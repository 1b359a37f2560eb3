"""Discord application commands from the plugin declarations, within Discord's limits."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.discord.commands import (
    CommandDeclarationError,
    CommandHooks,
    build_commands,
    check_declarations,
    payload_hash,
)
from bot.checks import Permissions
from bot.cli import main
from bot.config import PermissionSettings
from bot.options import OptionSpec
from bot.plugin import CommandSpec
from tests.test_plugin_loading import readme_example

REPO = Path(__file__).resolve().parent.parent

# Discord's documented limits (Application Commands reference), checked independently of
# the code that builds the payload.
NAME = re.compile(r"^[-_\w]{1,32}$")
# Subcommand, group, string, integer, boolean, user (a person picked in Discord), number.
OPTION_TYPES = {1, 2, 3, 4, 5, 6, 10}


def assert_within_discord_limits(command: dict[str, Any], depth: int = 0) -> None:
    assert NAME.match(command["name"]) and command["name"] == command["name"].lower()
    assert 1 <= len(command["description"]) <= 100, command
    options = command.get("options", [])
    assert len(options) <= 25
    required = [o.get("required", False) for o in options if o["type"] not in (1, 2)]
    assert required == sorted(required, reverse=True), f"required options first: {command}"
    for option in options:
        assert option["type"] in OPTION_TYPES
        if option["type"] in (1, 2):
            assert depth < 2
            assert_within_discord_limits(option, depth + 1)
            continue
        assert NAME.match(option["name"]) and option["name"] == option["name"].lower()
        assert 1 <= len(option["description"]) <= 100
        choices = option.get("choices", [])
        assert len(choices) <= 25
        assert not (choices and option.get("autocomplete")), option
        for choice in choices:
            assert 1 <= len(choice["name"]) <= 100
        if "max_length" in option:
            assert 1 <= option["max_length"] <= 6000


def text_size(item: dict[str, Any]) -> int:
    """Characters Discord counts toward a command's 8,000: names, descriptions, values."""
    size = len(item["name"]) + len(item.get("description", "")) + len(str(item.get("value", "")))
    return size + sum(text_size(o) for o in item.get("options", []) + item.get("choices", []))


def discord_payload(capsys: pytest.CaptureFixture[str], config: Path) -> list[dict[str, Any]]:
    assert main(["--config", str(config), "commands", "--format", "discord"]) == 0
    payload: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return payload


def test_every_builtin_and_the_readme_plugin_fit_discord(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "custom_plugins"
    folder.mkdir()
    (folder / "haiku.py").write_text(readme_example("python"))
    (folder / "haiku.yaml").write_text(readme_example("yaml"))
    config = tmp_path / "config.yaml"
    config.write_text(f"plugins:\n  folders: [{folder}]\n  entry_points: false\n")
    payload = discord_payload(capsys, config)
    by_name = {c["name"]: c for c in payload}
    assert {
        "story",
        "lyrics",
        "summarize",
        "tutor",
        "rewrite",
        "prefs",
        "help",
        "skald",
        "haiku",
    } <= (by_name.keys())
    for top in payload:
        assert_within_discord_limits(top)
        assert text_size(top) <= 8000, top["name"]


def test_subcommands_options_bounds_choices_and_autocomplete(
    capsys: pytest.CaptureFixture[str],
) -> None:
    by_name = {c["name"]: c for c in discord_payload(capsys, REPO / "config.yaml")}
    story = {o["name"]: o for o in by_name["story"]["options"]}
    assert set(story) == {"start", "continue", "end", "recap"}
    assert story["start"]["type"] == 1  # a subcommand
    premise, *rest = story["start"]["options"]
    assert (premise["name"], premise["type"], premise["required"]) == ("premise", 3, True)
    assert all(not o["required"] for o in rest)
    summarize = by_name["summarize"]["options"]
    messages = next(o for o in summarize if o["name"] == "messages")
    assert (messages["type"], messages["min_value"], messages["max_value"]) == (4, 1, 200)
    style = next(o for o in by_name["rewrite"]["options"] if o["name"] == "style")
    assert style["autocomplete"] is True and "choices" not in style
    lyrics_mood = next(o for o in by_name["lyrics"]["options"] if o["name"] == "mood")
    assert {
        "name": "happy",
        "value": "happy",
        "name_localizations": {"zh-CN": "快乐", "zh-TW": "快樂"},
    } in lyrics_mood["choices"]
    # Commands only work in servers (preferences belong to a server's channels).
    assert all(c["dm_permission"] is False for c in by_name.values())


def test_admin_commands_carry_default_member_permissions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    by_name = {c["name"]: c for c in discord_payload(capsys, REPO / "config.yaml")}
    manage_channels, manage_server = 1 << 4, 1 << 5
    assert by_name["prefs"]["default_member_permissions"] == manage_channels
    assert by_name["skald"]["default_member_permissions"] == manage_server
    assert by_name["story"]["default_member_permissions"] is None
    assert by_name["lyrics"]["default_member_permissions"] is None


# -- declarations Discord cannot take are refused, naming them --


def misfit_specs() -> dict[str, CommandSpec]:
    """Declarations the plugin contract accepts but Discord cannot register."""
    number = OptionSpec("n", "int", "a number", required=False, min_value=0, max_value=9)
    wordy = OptionSpec("text", "str", "x" * 101, required=True, max_length=100)
    shouty = OptionSpec("Loud", "str", "An upper-case name", required=True, max_length=100)
    many = tuple(dataclasses.replace(number, name=f"o{i}") for i in range(26))
    base = CommandSpec(
        "misfit", "A command that is also a group", "misfit", object, (), False, _never
    )
    specs = [
        base,
        dataclasses.replace(base, name="misfit wordy", description="Too wordy", options=(wordy,)),
        dataclasses.replace(base, name="misfit many", description="Too many", options=many),
        dataclasses.replace(base, name="misfit loud", description="Shouts", options=(shouty,)),
    ]
    return {spec.name: spec for spec in specs}


async def _never(plugin: Any, ctx: Any) -> None:
    raise AssertionError("never run")


def test_a_declaration_that_cannot_fit_is_refused_naming_it() -> None:
    problems = "\n".join(check_declarations(misfit_specs()))
    assert "/misfit wordy (plugin misfit), option 'text'" in problems
    assert "description must be 1-100 characters" in problems
    assert "/misfit many (plugin misfit): 26 options; Discord allows 25" in problems
    assert "/misfit is also a command" in problems
    assert "/misfit loud (plugin misfit), option 'Loud': not a lowercase name" in problems
    hooks = CommandHooks.payload_only(Permissions(PermissionSettings()).requires_admin)
    with pytest.raises(CommandDeclarationError, match="misfit wordy"):
        build_commands(misfit_specs(), {}, hooks)


def test_the_payload_hash_changes_only_with_the_payload() -> None:
    payload = [{"name": "story", "description": "A story", "options": []}]
    same = json.loads(json.dumps(payload))
    assert payload_hash(payload) == payload_hash(same)
    same[0]["description"] = "Another story"
    assert payload_hash(payload) != payload_hash(same)
