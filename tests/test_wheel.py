"""The built wheel runs on its own: installed (not editable) into a fresh virtual environment,
`skaldbot` starts from a folder outside the source tree and finds every file it ships."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.fake_openai import REPLY, FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
# What goes into the wheel (pyproject.toml); the rest of the checkout stays behind.
SOURCES = ("pyproject.toml", "README.md", "bot", "engine", "plugins")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the wheel; returns its bin folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    # 1) Build from a copy, so that setuptools' build/ and egg-info never land in the checkout.
    source = tmp / "source"
    source.mkdir()
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=junk)
        else:
            shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    dist = tmp / "dist"
    # No build isolation: it would fetch setuptools from the network; this venv has it.
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("skaldbot-*.whl")
    # 2) A fresh venv that sees this one's heavy dependencies (vLLM, discord.py, ...) through
    # a plain path line: it comes after the venv's own site-packages, and its .pth files
    # (the editable install of the checkout among them) are not run, so the wheel's `bot` wins.
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "heavy-dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", str(wheel)], check=True)
    return venv / "bin"


def _skaldbot(
    bin_dir: Path, cwd: Path, *args: str, stdin: str = "", **env_extra: str
) -> subprocess.CompletedProcess[str]:
    """`skaldbot ARGS` from the venv, in `cwd`, with nothing pointing at the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SKALD_"))}
    for token in ("DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        env.pop(token, None)
    env["SKALD_DATA_DIR"] = str(cwd / "data")
    env.update(env_extra)
    return subprocess.run(
        [str(bin_dir / "skaldbot"), *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_installed_wheel_runs_from_outside_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    where = _skaldbot(installed, tmp_path, "--version")
    assert where.returncode == 0, where.stderr
    assert where.stdout.split() == ["skaldbot", "0.1.0"]

    # The package imported is the wheel's copy, not the checkout it was built from.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    origin = subprocess.run(
        [str(installed / "python"), "-c", "import bot, plugins; print(bot.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(origin).is_relative_to(installed.parent), origin

    # Every built-in command, with prompts and catalogs read from the installed package.
    commands = _skaldbot(installed, tmp_path, "commands", "--json")
    assert commands.returncode == 0, commands.stderr
    names = {c["name"].split()[0] for c in json.loads(commands.stdout)["commands"]}
    assert {"skald", "story", "lyrics", "help"} <= names

    doctor = _skaldbot(installed, tmp_path, "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr

    # A story told on the console: the safety guidance, the story prompts and the sampling
    # settings all come from plugins/prompts/ inside the installed package.
    with FakeOpenAI() as server:
        told = _skaldbot(
            installed, tmp_path, "run", stdin="/story start fantasy\n", SKALD_ENGINE_URLS=server.url
        )
    assert told.returncode == 0, told.stderr
    assert REPLY in told.stdout
    (request,) = server.requests
    assert "a storyteller who writes a story together" in request["messages"][0]["content"]
