"""What the wheel carries beside the code: the py.typed markers (PEP 561)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_shipped_package_is_marked_as_typed() -> None:
    # Without py.typed in the wheel, mypy treats `from bot import Plugin` in a plugin
    # author's package as untyped, and strict mode rejects subclassing it.
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]
    package_data = setuptools["package-data"]
    for pattern in setuptools["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert (ROOT / package / "py.typed").is_file(), f"{package}/py.typed is missing"
        declared = package_data.get(package, []) + package_data.get("*", [])
        assert "py.typed" in declared, f"{package}/py.typed is not declared as package data"


def test_the_new_plugin_templates_are_package_data() -> None:
    # `skaldbot new-plugin` reads them from the installed package: one left out of the
    # wheel would be missing from every package it writes.
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]
    bot = ROOT / "bot"
    declared = {p for pattern in setuptools["package-data"]["bot"] for p in bot.glob(pattern)}
    templates = {p for p in (bot / "templates").rglob("*") if p.is_file()}
    assert templates, "no templates found"
    assert templates - declared == set()
