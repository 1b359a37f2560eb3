"""The terminal adapter: each typed line is a command or a chat message in one local channel."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import sys
import threading
from typing import TextIO

from bot.commandline import is_command, parse_command
from bot.core import Core
from bot.errors import UserError
from bot.i18n import _, _n, render
from bot.invocation import ChannelRef, Invocation, User
from bot.memory.history import LoggedHistory
from bot.memory.problems import storage_kind, storage_problem
from bot.options import resolve_users
from bot.readable import readable
from bot.reply import Attachment, Checkpoint, MessageBreak, Notice, Progress, Reply, TextDelta

log = logging.getLogger(__name__)

CHANNEL = ChannelRef("console", "local", "terminal")
BOT_NAME = "Skald"
# A person on the console, named as on the chat platforms: @ada, or <@ada>.
_CONSOLE_MENTION = re.compile(r"^(?:@|<@)([\w.-]+)>?$")


class ConsoleAdapter:
    """Reads lines from a stream, runs commands through the router, prints replies as they stream.

    With a terminal it prompts and runs until end of input (Ctrl-D); with a pipe or file it
    serves the lines in order and returns when they are done.
    """

    def __init__(
        self,
        core: Core,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        *,
        interactive: bool | None = None,
    ) -> None:
        self.core = core
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.interactive = self.stdin.isatty() if interactive is None else interactive
        settings = core.config.console
        # The person at the terminal runs the process: with admin rights, they own it too.
        self.user = User(
            id=settings.user, name=settings.user, is_admin=settings.admin, is_owner=settings.admin
        )
        self.history = LoggedHistory(core.messages, CHANNEL.scope)

    async def run(self) -> None:
        """Serve lines until end of input."""
        if self.interactive:
            languages = await self.core.languages(CHANNEL, self.user)
            hello = _("Skald is ready. Type /help for the commands, Ctrl-D to quit.")
            self._print(hello.render(languages.private) + "\n")
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        # The next prompt appears only once the previous reply is printed.
        ready = threading.Event()
        ready.set()

        def read_all() -> None:
            while True:
                ready.wait()
                ready.clear()
                line = self._read_line()
                try:
                    loop.call_soon_threadsafe(lines.put_nowait, line)
                except RuntimeError:
                    return  # the bot has shut down; nobody reads any more
                if line is None:
                    return

        # A daemon thread, not asyncio.to_thread: a thread blocked in input() must not keep
        # the process alive after Ctrl-C or SIGTERM.
        threading.Thread(target=read_all, name="skald-console-input", daemon=True).start()
        while (line := await lines.get()) is not None:
            await self.handle_line(line)
            ready.set()

    def _read_line(self) -> str | None:
        if self.interactive:
            try:
                return readable(input("> "))
            except EOFError:
                return None
        line = self.stdin.readline()
        return readable(line) if line else None

    async def handle_line(self, line: str) -> None:
        """Serve one line: run a command, or record a chat message.

        A storage error (a full disk, a read-only database) costs this line only: it is
        said in one line, and the next line is served as usual.
        """
        try:
            await self._serve_line(readable(line))
        except sqlite3.Error as exc:
            log.warning("console: storage error (%s): %s", storage_kind(exc), exc)
            self._notice(Notice(storage_problem(exc).render(self.core.config.language), "error"))

    async def _serve_line(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        if not is_command(line):
            await self.core.messages.record(CHANNEL.scope, self.user.name, line)
            return
        if not self.interactive:
            self._print(f"> {line}\n")
        try:
            parsed = parse_command(line, self.core.plugins.commands)
        except UserError as exc:
            languages = await self.core.languages(CHANNEL, self.user)
            self._notice(Notice(render(exc.message, languages.private), kind="error"))
            return
        options: dict[str, object] = dict(parsed.options)
        spec = self.core.plugins.commands.get(parsed.name)
        if spec is not None:
            options = resolve_users(spec.options, options, console_person)
        inv = Invocation(parsed.name, options, CHANNEL, self.user, self.history)
        run = self.core.dispatch(inv)
        try:
            await self.print_reply(run.reply)
        except BaseException:
            # Shutting down, or the terminal went away: stop generating for nobody.
            run.cancel()
            await run.wait()
            raise
        await run.wait()
        # What the model wrote is part of the channel's conversation, as on a real platform;
        # listings such as /help or /prefs show are not.
        if run.reply.generated and run.reply.text.strip():
            await self.core.messages.record(CHANNEL.scope, BOT_NAME, run.reply.text.strip())

    async def print_reply(self, reply: Reply) -> None:
        """Print each event as it arrives: text as it streams, notices on lines of their own."""
        reply.confirm_delivery()
        try:
            await self._print_events(reply)
        finally:
            reply.reader_gone()

    async def _print_events(self, reply: Reply) -> None:
        at_line_start = True
        async for event in reply.events():
            if isinstance(event, Checkpoint):
                event.settle(True)  # printed as it came: already on the terminal
            elif isinstance(event, TextDelta):
                self._print(event.text)
                at_line_start = event.text.endswith("\n")
            elif isinstance(event, MessageBreak):
                if not at_line_start:
                    self._print("\n")
                    at_line_start = True
            elif isinstance(event, Notice | Attachment):
                if not at_line_start:
                    self._print("\n")
                self._notice(
                    event if isinstance(event, Notice) else _saved(event, reply.languages.private)
                )
                at_line_start = True
            elif isinstance(event, Progress):
                # Status, not reply: on stderr, where loading progress goes too.
                print(f"… {event.text}", file=sys.stderr, flush=True)
        if not at_line_start:
            self._print("\n")

    def _notice(self, notice: Notice) -> None:
        mark = "⚠" if notice.kind == "error" else "·"
        # One line, always: a notice is never a traceback or a wall of text.
        text = " ".join(notice.text.split())
        self._print(f"{mark} {text}\n")

    def _print(self, text: str) -> None:
        try:
            self.stdout.write(text)
        except UnicodeEncodeError:
            # A terminal that cannot show some character still gets the rest of the line.
            encoding = getattr(self.stdout, "encoding", None) or "utf-8"
            self.stdout.write(text.encode(encoding, "replace").decode(encoding))
        self.stdout.flush()


def console_person(text: str) -> str | None:
    """The console's id of the person a mention names (people are their names), or None."""
    match = _CONSOLE_MENTION.match(text)
    if match is None or text.startswith("<@") != text.endswith(">"):
        return None
    return match.group(1)


def _saved(attachment: Attachment, locale: str) -> Notice:
    """The console's person runs the bot: the file is already on their disk."""
    saved = _n(
        "Saved {name} ({n:,} byte): {where}",
        "Saved {name} ({n:,} bytes): {where}",
        len(attachment.content),
        name=attachment.filename,
        where=str(attachment.path or attachment.filename),
    )
    return Notice(saved.render(locale))
