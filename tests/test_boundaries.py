"""Platform libraries stay in bot/adapters/: the core, the engine and plugins never import them."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLATFORM_MODULES = {"discord", "slack_bolt", "slack_sdk", "slack"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_platform_imports_outside_the_adapters() -> None:
    offenders = []
    for package in ("bot", "plugins", "engine"):
        for path in (REPO / package).rglob("*.py"):
            if (REPO / "bot" / "adapters") in path.parents:
                continue
            leaked = imported_roots(path) & PLATFORM_MODULES
            if leaked:
                offenders.append(f"{path.relative_to(REPO)} imports {sorted(leaked)}")
    assert offenders == []


def test_the_check_itself_sees_a_platform_import(tmp_path: Path) -> None:
    sample = tmp_path / "leaky.py"
    sample.write_text("import discord.ext\nfrom slack_bolt.async_app import AsyncApp\n")
    assert imported_roots(sample) & PLATFORM_MODULES == {"discord", "slack_bolt"}


def test_plugins_use_only_the_public_api_and_prompts_are_data() -> None:
    for path in (REPO / "plugins").glob("*.py"):
        if path.name == "__init__.py":
            continue
        assert imported_roots(path) <= {
            "__future__",
            "asyncio",
            "bot",
            "collections",
            "dataclasses",
            "typing",
            "json",
            "re",
            "time",
            "enum",
            "contextlib",
            "itertools",
            "logging",
        }, path
    for plugin in ("story", "lyrics", "summarize", "tutor", "rewrite"):
        assert (REPO / "plugins" / "prompts" / f"{plugin}.yaml").is_file()
