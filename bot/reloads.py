"""Reload requests between `skaldbot reload` and the running bots, with an answer from each.

The caller writes `run/reload-<id>.request` naming the plugins and the registrations it
asks, then signals each of those bots (SIGUSR1). Each bot reloads and answers with
`run/reload-<id>-<token>.result`; the caller reads the answers and removes the files.
Every file is written under another name and renamed into place, so nobody reads half.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import UserError
from bot.i18n import SOURCE_LANGUAGE, render
from bot.processes import run_folder

if TYPE_CHECKING:
    from bot.core import Core

# Files of callers that went away without removing them are dropped after this long.
ABANDONED_AFTER_S = 3600.0


@dataclass(frozen=True, slots=True)
class ReloadRequest:
    """Which plugins to reload (none: every one), and which registrations are asked."""

    id: str
    plugins: tuple[str, ...]
    to: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """One bot's answer: the plugins it reloaded, and each failure in one line."""

    pid: int
    reloaded: tuple[str, ...]
    failed: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every plugin asked for reloaded."""
        return not self.failed


class ReloadMailbox:
    """The reload requests and answers in a data folder's run folder."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = run_folder(data_dir)

    def _request_path(self, request_id: str) -> Path:
        return self.folder / f"reload-{request_id}.request"

    def _result_path(self, request_id: str, token: str) -> Path:
        return self.folder / f"reload-{request_id}-{token}.result"

    def send(self, plugins: Sequence[str], to: Iterable[str]) -> ReloadRequest:
        """Post a request (the caller then signals the bots it names)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        request = ReloadRequest(secrets.token_hex(8), tuple(plugins), tuple(to))
        body = {"id": request.id, "plugins": list(request.plugins), "to": list(request.to)}
        self._write(self._request_path(request.id), body)
        return request

    def pending(self, token: str) -> list[ReloadRequest]:
        """Requests addressed to this registration that it has not answered, oldest first."""
        found = []
        paths = sorted(self.folder.glob("reload-*.request"), key=_modified)
        for path in paths:
            try:
                data = json.loads(path.read_text())
                request = ReloadRequest(
                    str(data["id"]), tuple(map(str, data["plugins"])), tuple(map(str, data["to"]))
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue  # withdrawn meanwhile, or not ours to read
            if token in request.to and not self._result_path(request.id, token).exists():
                found.append(request)
        return found

    def answer(self, request: ReloadRequest, token: str, result: ReloadResult) -> None:
        """Write this bot's answer to a request."""
        body = {"pid": result.pid, "reloaded": list(result.reloaded), "failed": list(result.failed)}
        self._write(self._result_path(request.id, token), body)

    def result(self, request: ReloadRequest, token: str) -> ReloadResult | None:
        """A bot's answer, once it is there."""
        try:
            data = json.loads(self._result_path(request.id, token).read_text())
            return ReloadResult(
                int(data["pid"]),
                tuple(map(str, data["reloaded"])),
                tuple(map(str, data["failed"])),
            )
        except FileNotFoundError:
            return None

    def withdraw(self, request: ReloadRequest) -> None:
        """Remove a request and its answers (the caller has read them, or gave up)."""
        with contextlib.suppress(FileNotFoundError):
            self._request_path(request.id).unlink()
        for token in request.to:
            with contextlib.suppress(FileNotFoundError):
                self._result_path(request.id, token).unlink()

    def drop_abandoned(self, now: float | None = None) -> None:
        """Remove requests and answers that callers left behind long ago."""
        limit = (time.time() if now is None else now) - ABANDONED_AFTER_S
        for path in [*self.folder.glob("reload-*.request"), *self.folder.glob("reload-*.result")]:
            with contextlib.suppress(FileNotFoundError):
                if _modified(path) < limit:
                    path.unlink()

    def _write(self, path: Path, body: Mapping[str, object]) -> None:
        draft = path.with_name(f".{path.name}.new")
        draft.write_text(json.dumps(body))
        os.replace(draft, path)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def every_plugin(core: Core) -> list[str]:
    """What a reload of 'every plugin' reloads: the loaded ones and those that failed."""
    loaded = [name for name in sorted(core.plugins.loaded) if name != "skald"]
    return loaded + [f.label for f in core.load_failures if f.label not in loaded]


async def reload_plugins(core: Core, names: Sequence[str]) -> ReloadResult:
    """Reload the named plugins (none: every one), each on its own; failures in English."""
    reloaded: list[str] = []
    failed: list[str] = []
    for name in names or every_plugin(core):
        try:
            await core.reload_plugin(name)
        except UserError as exc:
            # The answer goes to an operator's terminal, in the CLI's own language.
            failed.append(render(exc.message, SOURCE_LANGUAGE))
        else:
            reloaded.append(name)
    return ReloadResult(os.getpid(), tuple(reloaded), tuple(failed))
