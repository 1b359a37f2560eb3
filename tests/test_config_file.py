"""The shipped config.yaml shows the code's defaults (bot/config.py), key by key, so that
"a missing key keeps the default shown here" is true; the one deliberate difference is
named in its header."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from bot.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config.yaml"
# Keys whose shipped value differs from the code's default on purpose; the header of
# config.yaml must name each one.
DELIBERATE = {"plugins.folders"}


def plain(value: Any) -> Any:
    """A default as YAML would write it: paths as text, tuples as lists, dataclasses as maps."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"engine.model": ..., ...}: every setting by its dotted name (maps of settings only)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and name in SECTIONS:
            out.update(leaves(value, name + "."))
        else:
            out[name] = value
    return out


# The sections (engine:, router:, ...): settings of their own, compared key by key.
SECTIONS = {
    f.name
    for f in dataclasses.fields(Config)
    if dataclasses.is_dataclass(getattr(Config(), f.name))
}


def shipped() -> dict[str, Any]:
    return leaves(yaml.safe_load(CONFIG.read_text(encoding="utf-8")))


def test_config_yaml_shows_every_setting_and_no_other() -> None:
    assert set(shipped()) == set(leaves(plain(Config())))


def test_config_yaml_shows_the_code_defaults() -> None:
    defaults = leaves(plain(Config()))
    differing = {key for key, value in shipped().items() if value != defaults[key]}
    assert differing == DELIBERATE, {k: (shipped()[k], defaults[k]) for k in differing}


def test_the_header_names_each_deliberate_difference() -> None:
    header = []
    for line in CONFIG.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    for key in DELIBERATE:
        assert key in " ".join(header), key


def test_config_yaml_loads() -> None:
    # The shipped file is valid as it stands (the loader rejects unknown keys and types).
    config = load_config(CONFIG, env={})
    assert config.plugins.folders == (ROOT / "custom_plugins",)
