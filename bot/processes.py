"""The running bots of one data folder: each holds a locked registration file for its life.

Several `skaldbot run` processes may share a data folder (Discord shards, a console beside
the Discord bot). Each one writes `run/<pid>-<token>.lock` and keeps an exclusive
`flock` on it until it exits; the kernel drops the lock when the process dies, however it
dies. A registration whose lock nobody holds is therefore stale: its process is gone,
whatever process has that pid now, and it is removed, never signalled.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

RUN_FOLDER = "run"
# The process-id file of Skald before the registry (read by nothing any more).
LEGACY_PID_FILE = "skaldbot.pid"


def run_folder(data_dir: Path) -> Path:
    """Where the registrations and the reload requests of a data folder live."""
    return data_dir / RUN_FOLDER


def process_start(pid: int) -> int | None:
    """When a process started, in clock ticks since boot (Linux); None where unknown.

    Together with the pid this names one process: a reused pid has a later start.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat.rpartition(")")[2].split()
    try:
        return int(fields[19])  # field 22, starttime
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class RunningBot:
    """What one registration file says about its process."""

    path: Path
    pid: int
    token: str
    host: str
    # Wall-clock seconds when it registered (for people), and the kernel's start time.
    started: float
    process_start: int | None

    def to_json(self) -> str:
        """The file's content."""
        return json.dumps(
            {
                "pid": self.pid,
                "token": self.token,
                "host": self.host,
                "started": self.started,
                "process_start": self.process_start,
            }
        )

    @classmethod
    def from_json(cls, path: Path, text: str) -> RunningBot:
        """Read a registration (raises ValueError, KeyError or TypeError when unreadable)."""
        data = json.loads(text)
        start = data.get("process_start")
        return cls(
            path,
            int(data["pid"]),
            str(data["token"]),
            str(data["host"]),
            float(data["started"]),
            None if start is None else int(start),
        )

    @property
    def on_this_host(self) -> bool:
        """True when it registered on this machine (a shared folder may be mounted elsewhere)."""
        return self.host == socket.gethostname()

    def is_this_process(self) -> bool:
        """True if the pid still names the process that registered (as far as /proc tells).

        A child that inherited the locked file (a fork) keeps the lock after its parent
        died; the parent's pid may then belong to someone else. The start time tells.
        """
        if not self.on_this_host:
            return False
        if self.process_start is None:
            return True  # registered where /proc tells nothing: the lock is all there is
        return process_start(self.pid) == self.process_start

    def signal(self, signum: int) -> None:
        """Send a signal to this bot, and to no other process (raises ProcessLookupError).

        Through a pidfd where the system has them: the pid is pinned first and checked
        after, so a pid reused in between is never signalled.
        """
        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            raise
        except (AttributeError, OSError):  # not Linux, or an old kernel
            if not self.is_this_process():
                raise ProcessLookupError(self.pid) from None
            os.kill(self.pid, signum)
            return
        try:
            if not self.is_this_process():
                raise ProcessLookupError(self.pid)
            signal.pidfd_send_signal(pidfd, signum)
        finally:
            os.close(pidfd)


@dataclass(frozen=True, slots=True)
class Scan:
    """The registrations of a data folder, sorted out."""

    live: list[RunningBot]
    # Left by processes that died (their files are now removed).
    stale: list[RunningBot]
    # Held, but not by the process they name: another host, or a forked child.
    unreachable: list[RunningBot]


class Registration:
    """This process's own registration: the file stays locked until close()."""

    def __init__(self, bot: RunningBot, fd: int) -> None:
        self.bot = bot
        self._fd: int | None = fd

    def close(self) -> None:
        """Remove the file, then let go of the lock (at shutdown)."""
        if self._fd is None:
            return
        # Removed while still locked, so no scan ever sees it unlocked and in place.
        with contextlib.suppress(FileNotFoundError):
            self.bot.path.unlink()
        os.close(self._fd)
        self._fd = None


class Registry:
    """The registration files of one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = run_folder(data_dir)

    def register(self) -> Registration:
        """Register this process as a running bot of the folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        token = secrets.token_hex(8)
        bot = RunningBot(
            self.folder / f"{pid}-{token}.lock",
            pid,
            token,
            socket.gethostname(),
            time.time(),
            process_start(pid),
        )
        # Written and locked under a name no scan reads, then renamed into place: a scan
        # never finds a registration that is not locked yet.
        draft = self.folder / f".{pid}-{token}.new"
        fd = os.open(draft, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, bot.to_json().encode())
            os.replace(draft, bot.path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                draft.unlink()
            raise
        return Registration(bot, fd)

    def scan(self) -> Scan:
        """Every registration, live or not; stale ones are removed on the way."""
        live: list[RunningBot] = []
        stale: list[RunningBot] = []
        unreachable: list[RunningBot] = []
        for path in sorted(self.folder.glob("*.lock")):
            state, bot = self._inspect(path)
            if bot is None:
                continue
            {"live": live, "stale": stale, "unreachable": unreachable}[state].append(bot)
        return Scan(live, stale, unreachable)

    def is_live(self, bot: RunningBot) -> bool:
        """True while the bot's registration is still held (it has not exited)."""
        state, _bot = self._inspect(bot.path)
        return state == "live"

    @staticmethod
    def _inspect(path: Path) -> tuple[str, RunningBot | None]:
        """('live' | 'stale' | 'unreachable', what the file says); removes a stale file."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return "stale", None
        try:
            text = os.read(fd, 4096).decode(errors="replace")
            try:
                bot: RunningBot | None = RunningBot.from_json(path, text)
            except (ValueError, KeyError, TypeError):
                bot = None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if bot is None:  # held, yet unreadable: not ours to judge
                    return "unreachable", None
                return ("live" if bot.is_this_process() else "unreachable"), bot
            # Nobody holds it: its process is gone. Remove it, unless it was replaced since
            # it was opened (only the same file, still at this path, is stale).
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    path.unlink()
            return "stale", bot
        finally:
            os.close(fd)
