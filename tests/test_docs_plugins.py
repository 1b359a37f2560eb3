"""docs/plugins.md's code is real: its files are written out and their tests run."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from tests.test_new_plugin import run_python

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FILE = re.compile(r"^# file: (\S+)\n")


def guide_blocks() -> list[tuple[str, str | None, str]]:
    """(language, file it belongs in or None, code) of every fenced block."""
    blocks = []
    for language, code in BLOCK.findall(GUIDE.read_text(encoding="utf-8")):
        marker = FILE.match(code)
        blocks.append((language, marker[1] if marker else None, code))
    return blocks


def test_the_guide_s_package_passes_its_own_tests(tmp_path: Path) -> None:
    written = []
    for language, filename, code in guide_blocks():
        if filename is None:
            continue
        path = tmp_path / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
        written.append((language, filename))
    assert written == [
        ("python", "haiku/__init__.py"),
        ("yaml", "haiku/haiku.yaml"),
        ("python", "tests/test_haiku.py"),
        ("toml", "pyproject.toml"),
    ]
    tests = run_python(
        ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "bot.testing.plugin"],
        tmp_path,
        tmp_path,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "6 passed" in tests.stdout, tests.stdout
    # The pyproject's entry point names the guide's plugin, as Skald's loader reads it.
    project = tomllib.loads((tmp_path / "pyproject.toml").read_text(encoding="utf-8"))
    [(name, value)] = project["project"]["entry-points"]["skaldbot.plugins"].items()
    check = (
        "import importlib.metadata as m;"
        f"cls = m.EntryPoint({name!r}, {value!r}, 'skaldbot.plugins').load();"
        "print(cls.name, cls.prompt_file.is_file())"
    )
    loaded = run_python(["-c", check], tmp_path, tmp_path)
    assert loaded.stdout.strip() == "haiku True", loaded.stderr


def test_every_other_block_at_least_parses() -> None:
    for language, filename, code in guide_blocks():
        if filename is not None:
            continue
        if language == "python":
            compile(code, str(GUIDE), "exec")
        elif language == "yaml":
            yaml.safe_load(code)
        elif language == "toml":
            tomllib.loads(code)
