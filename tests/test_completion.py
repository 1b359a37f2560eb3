"""`skaldbot completion bash|zsh`: scripts generated from the parser, so they never drift."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bot.cli import main

BASH = shutil.which("bash")


def script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["completion", shell]) == 0
    return capsys.readouterr().out


def complete(script_text: str, *words: str) -> list[str]:
    """What bash offers after `skaldbot WORDS` (the last word being typed), as a user sees."""
    line = " ".join(["skaldbot", *words])
    quoted = " ".join(f"'{w}'" for w in ["skaldbot", *words])
    probe = (
        f"{script_text}\n"
        f"COMP_WORDS=({quoted}); COMP_CWORD={len(words)}; COMP_LINE='{line}'; "
        f"COMP_POINT={len(line)}; _shtab_skaldbot; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    )
    assert BASH is not None
    done = subprocess.run([BASH, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
def test_bash_completes_commands_and_choices(capsys: pytest.CaptureFixture[str]) -> None:
    bash = script("bash", capsys)
    assert {"run", "doctor", "commands", "completion", "new-plugin"} <= set(complete(bash, ""))
    assert complete(bash, "doc") == ["doctor"]
    assert complete(bash, "commands", "--format", "") == ["text", "json", "slack", "discord"]
    assert complete(bash, "completion", "") == ["bash", "zsh"]


def test_zsh_gets_a_compdef_script_for_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    zsh = script("zsh", capsys)
    assert zsh.startswith("#compdef skaldbot")
    for command in ("run", "doctor", "backup", "reload", "completion"):
        # Each subcommand gets its own option list in the dispatching `case`.
        assert f"{command}) _arguments" in zsh, command


def test_an_unknown_shell_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["completion", "fish"])
    assert stopped.value.code == 2
    assert "invalid choice: 'fish'" in capsys.readouterr().err


def test_version_comes_from_the_installed_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import metadata

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"skaldbot {metadata.version('skaldbot')}\n"
