"""`skaldbot new-plugin`: a plugin author's first minutes, in a folder outside the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.cli import main
from bot.scaffold import PluginNames, ScaffoldError

REPO = Path(__file__).resolve().parent.parent


def run_python(args: list[str], cwd: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    """Python in a child process that imports the new package and this Skald checkout.

    Nothing is installed into the shared environment: PYTHONPATH stands in for
    `pip install -e`, and `-p bot.testing.plugin` for skaldbot's installed pytest11 entry
    point (the same name, so with it installed the option changes nothing).
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in (*paths, REPO)))
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_a_new_plugin_package_passes_its_own_tests_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = tmp_path / "authors" / "daily-quote"
    assert main(["new-plugin", "daily-quote", "--dir", str(package)]) == 0
    assert f"pip install -e {package}" in capsys.readouterr().out
    assert sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file()) == [
        "README.md",
        "daily_quote/__init__.py",
        "daily_quote/daily-quote.yaml",
        "daily_quote/py.typed",
        "pyproject.toml",
        "tests/test_daily_quote.py",
    ]
    tests = run_python(
        ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "bot.testing.plugin"],
        package,
        package,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout


def test_the_entry_point_and_package_data_name_the_plugin(tmp_path: Path) -> None:
    package = tmp_path / "haiku"
    assert main(["new-plugin", "haiku", "--dir", str(package)]) == 0
    project = tomllib.loads((package / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["name"] == "skald-haiku"
    assert "skaldbot" in project["project"]["dependencies"]
    entry_points = project["project"]["entry-points"]["skaldbot.plugins"]
    assert entry_points == {"haiku": "haiku:Haiku"}
    # The prompts travel in the wheel: the module reads them from beside itself.
    assert project["tool"]["setuptools"]["package-data"] == {"haiku": ["*.yaml", "py.typed"]}
    # The entry point loads a Plugin named as the command, the way Skald's loader loads it.
    check = (
        "import importlib.metadata as m, bot;"
        "cls = m.EntryPoint('haiku', 'haiku:Haiku', 'skaldbot.plugins').load();"
        "assert issubclass(cls, bot.Plugin), cls;"
        "print(cls.name, [s.name for s in cls.command_specs()], cls.prompt_file.is_file())"
    )
    loaded = run_python(["-c", check], tmp_path, package)
    assert loaded.stdout.split("\n")[0] == "haiku ['haiku'] True", loaded.stderr


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Haiku", "not a plugin name"),
        ("2haiku", "not a plugin name"),
        ("haiku!", "not a plugin name"),
        ("story", "built-in command"),
        ("prefs", "built-in command"),
        ("json", "Python's own"),
        ("class", "Python's own"),
        ("engine", "Skald's own"),
    ],
)
def test_a_name_that_cannot_be_a_plugin_is_refused(name: str, why: str) -> None:
    with pytest.raises(ScaffoldError, match=why):
        PluginNames.of(name)


def test_a_folder_with_something_in_it_is_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["new-plugin", "haiku", "--dir", str(tmp_path)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    # An empty folder is fine.
    (tmp_path / "empty").mkdir()
    assert main(["new-plugin", "haiku", "--dir", str(tmp_path / "empty")]) == 0


def test_the_example_package_is_declared_the_same_way() -> None:
    project = tomllib.loads((REPO / "examples/muse/pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"]["skaldbot.plugins"] == {"muse": "skald_muse:Muse"}
    assert "*.yaml" in project["tool"]["setuptools"]["package-data"]["skald_muse"]
    loaded = run_python(
        ["-c", "from skald_muse import Muse; print(Muse.name, Muse.prompt_file.is_file())"],
        REPO,
        REPO / "examples/muse",
    )
    assert loaded.stdout.strip() == "muse True", loaded.stderr
