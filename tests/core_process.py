"""A Skald core in a process of its own, driven one command at a time over a pipe.

Tests of several processes on one database start one with `CoreProcess` and type commands
into it; it answers each with a JSON line once the reply has finished (the acknowledgement).
Run as `python -m tests.core_process DATA_DIR SETTINGS_JSON` it is that other process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import FairnessSettings, RouterSettings
from bot.core import Core
from bot.invocation import ChannelRef, Invocation, User
from bot.options import UserId
from bot.reply import Notice, TextDelta
from tests.conftest import make_config
from tests.scripted_engine import ScriptedEngine

ROOT = Path(__file__).resolve().parents[1]
CHANNEL = ChannelRef("test", "guild-1", "shared")
REPLY = "one two three four five six"  # six tokens to the scripted engine


@dataclass(frozen=True)
class Answer:
    """What the user saw of one command: the reply text and the notices."""

    text: str
    notices: list[str]


def open_config_changes(settings: dict[str, Any]) -> dict[str, Any]:
    """make_config changes from the JSON-able settings both sides of the pipe use."""
    return {
        "router": RouterSettings(cooldown_s=settings.get("cooldown_s", 0)),
        "fairness": FairnessSettings(user_concurrency=0, **settings.get("fairness", {})),
    }


async def open_shared_core(data_dir: Path, **settings: Any) -> Core:
    """A core configured as a CoreProcess with the same settings is (same replies too)."""
    engine = ScriptedEngine(script=ScriptedEngine.replying(REPLY))
    return await Core.open(make_config(data_dir, **open_config_changes(settings)), engine)


def invocation(command: str, by: str = "42", admin: bool = False, **options: str) -> Invocation:
    """A command typed by user `by` in the shared channel, as an adapter would hand it over.

    An option written `@id` names that person, as an adapter hands over a mention.
    """
    person = User(by, f"user {by}", is_admin=admin, is_owner=admin)
    values = {k: UserId(v[1:]) if v.startswith("@") else v for k, v in options.items()}
    return Invocation(command, values, CHANNEL, person)


async def serve(core: Core, inv: Invocation) -> Answer:
    """Run one command to its end; what the user saw."""
    run = core.dispatch(inv)
    text, notices = "", []
    async for event in run.reply.events():
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, Notice):
            notices.append(event.text)
    await run.wait()
    return Answer(text, notices)


class CoreProcess:
    """Another `Core` on the same data folder, in an OS process of its own."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.core_process", str(data_dir), json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self._read_line("ready")

    def _read_line(self, what: str) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.endswith("\n"):
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"the core process ended before {what}: {err}")
        return line

    def send(self, command: str, by: str = "42", admin: bool = False, **options: str) -> None:
        """Type a command as user `by`, without waiting for its answer."""
        assert self.proc.stdin is not None
        request = {"command": command, "by": by, "admin": admin, "options": options}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()

    def ask(self, command: str, by: str = "42", admin: bool = False, **options: str) -> Answer:
        """Type a command as user `by`; returns once its reply finished in the other process."""
        self.send(command, by, admin, **options)
        return Answer(**json.loads(self._read_line(f"answering /{command}")))

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind runs."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def close(self) -> None:
        """End the process the way an operator's Ctrl-D would (stdin closes)."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr, self.proc.stdin):
            if stream is not None and not stream.closed:
                stream.close()


async def _child(data_dir: Path, settings: dict[str, Any]) -> None:
    core = await open_shared_core(data_dir, **settings)
    try:
        print("ready", flush=True)
        while line := await asyncio.to_thread(sys.stdin.readline):
            request = json.loads(line)
            answer = await serve(
                core,
                invocation(
                    request["command"], request["by"], request["admin"], **request["options"]
                ),
            )
            # Printed only now that the reply has finished: this line is the acknowledgement.
            print(json.dumps({"text": answer.text, "notices": answer.notices}), flush=True)
    finally:
        await core.close()


if __name__ == "__main__":
    asyncio.run(_child(Path(sys.argv[1]), json.loads(sys.argv[2])))
