"""The `skaldbot` command line, apart from `run` (see test_end_to_end)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, FairnessSettings, load_config

REPO = Path(__file__).resolve().parent.parent


def test_commands_json_lists_every_command_with_its_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--config", str(REPO / "config.yaml"), "commands", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    commands = {c["name"]: c for c in data["commands"]}
    assert {
        "story start",
        "story continue",
        "lyrics",
        "summarize",
        "tutor quiz",
        "rewrite",
        "prefs set",
        "help",
        "skald reload",
    } <= commands.keys()
    messages = next(o for o in commands["summarize"]["options"] if o["name"] == "messages")
    assert (messages["min_value"], messages["max_value"], messages["default"]) == (1, 200, 50)
    assert commands["prefs set"]["admin"] is True
    style = next(o for o in commands["rewrite"]["options"] if o["name"] == "style")
    assert style["autocomplete"] is True


def test_the_shipped_config_loads_and_means_the_defaults() -> None:
    config = load_config(REPO / "config.yaml", env={})
    assert config.engine.model == "bundled:qwen2.5-coder-0.5b-instruct"
    assert config.data_dir == REPO / "data"
    assert config.fairness == FairnessSettings()
    assert config.fairness.channel_concurrency == 4


def test_environment_overrides_paths(tmp_path: Path) -> None:
    config = load_config(
        REPO / "config.yaml",
        env={"SKALD_DATA_DIR": str(tmp_path / "d"), "SKALD_CACHE_DIR": str(tmp_path / "c")},
    )
    assert config.data_dir == tmp_path / "d"
    assert config.engine.cache_dir == tmp_path / "c"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("routr: {}\n", "unknown setting 'routr' (did you mean 'router'?)"),
        (
            "fairness:\n  channel_concurency: 3\n",
            "unknown setting 'fairness.channel_concurency' (did you mean 'channel_concurrency'?)",
        ),
        ("language: fr\n", "language must be one of en, zh; got 'fr'"),
        ("router:\n  cooldown_s: soon\n", "router.cooldown_s must be a number; got 'soon'"),
        ("engine: [1, 2]\n", "engine must be a mapping of keys to values"),
    ],
)
def test_a_bad_config_names_the_key(
    tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value) == message
    assert main(["--config", str(path), "commands"]) == 2
    assert f"skaldbot: configuration problem: {message}" in capsys.readouterr().err


def test_reload_without_a_running_bot_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKALD_DATA_DIR", str(tmp_path))
    assert main(["--config", str(REPO / "config.yaml"), "reload", "story"]) == 1
    assert "no running bot found" in capsys.readouterr().err
