"""A channel to type commands into, as a given user, and what the bot answered."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.commandline import parse_command
from bot.core import Core
from bot.errors import UserError
from bot.i18n import render
from bot.invocation import ChannelRef, Invocation, User
from bot.memory.history import LoggedHistory
from bot.reply import (
    Accepted,
    Attachment,
    Checkpoint,
    MessageBreak,
    Notice,
    Progress,
    ReplyEvent,
    TextDelta,
)

# What the platforms show under a finished reply (Discord and Slack alike).
REGENERATE = "regenerate"
CONTINUE = "continue"


@dataclass(slots=True)
class Result:
    """Everything one command produced, in the order it came."""

    # The command as the router received it ("haiku", "story start").
    command: str
    events: list[ReplyEvent] = field(default_factory=list)
    # True when the reply carries model-written text (what a platform keeps as history).
    generated: bool = False
    # The buttons under the finished reply: "regenerate", and "continue" where the
    # command declares a follow_up.
    buttons: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """All the reply's text, messages joined by a blank line (notices not included)."""
        return "\n\n".join(self.messages)

    @property
    def messages(self) -> list[str]:
        """The reply's text as the messages it was split into (by `reply.new_message()`)."""
        parts: list[str] = [""]
        for event in self.events:
            if isinstance(event, TextDelta):
                parts[-1] += event.text
            elif isinstance(event, MessageBreak) and parts[-1]:
                parts.append("")
        return [p.strip() for p in parts if p.strip()]

    @property
    def notices(self) -> list[Notice]:
        """Notices (hints and errors outside the text), in order."""
        return [e for e in self.events if isinstance(e, Notice)]

    @property
    def errors(self) -> list[str]:
        """The text of every error notice: an empty list when the command went well."""
        return [n.text for n in self.notices if n.kind == "error"]

    @property
    def progress(self) -> list[str]:
        """Progress lines shown before the text (a place in line, the model warming up)."""
        return [e.text for e in self.events if isinstance(e, Progress)]

    @property
    def attachments(self) -> list[Attachment]:
        """Files given to the user."""
        return [e for e in self.events if isinstance(e, Attachment)]

    @property
    def accepted(self) -> bool:
        """True when the command passed validation and checks and its handler ran."""
        return any(isinstance(e, Accepted) for e in self.events)


class ChannelDriver:
    """One channel of one platform, where a test types commands as any user.

    `await channel.run('/haiku subject:"first frost"', user="bo", admin=False,
    language="zh")` serves the line as an adapter would (parsed from text, as Slack and the
    console do) and returns a `Result` once the handler has finished.
    """

    def __init__(
        self,
        core: Core,
        *,
        platform: str = "console",
        workspace: str = "local",
        channel: str = "test",
    ) -> None:
        self.core = core
        self.ref = ChannelRef(platform, workspace, channel)
        self.history = LoggedHistory(core.messages, self.ref.scope)

    async def say(self, author: str, text: str) -> None:
        """Post a chat message in the channel (what /summarize-like plugins read back)."""
        await self.core.messages.record(self.ref.scope, author, text)

    async def run(
        self,
        line: str,
        *,
        user: str = "ada",
        admin: bool = False,
        owner: bool = False,
        language: str | None = None,
    ) -> Result:
        """Type one `/command option:value …` line and collect the whole reply.

        `language` ("en", "zh", or a platform locale such as "zh-TW") is the person's own
        and the server's: the reply is in it unless the channel's `language` preference
        says otherwise.
        """
        ref = ChannelRef(self.ref.platform, self.ref.workspace, self.ref.channel, locale=language)
        person = User(user, user, is_admin=admin or owner, is_owner=owner, locale=language)
        try:
            parsed = parse_command(line, self.core.plugins.commands)
        except UserError as exc:
            # Refused before any plugin runs, as the console and Slack refuse it.
            languages = await self.core.languages(ref, person)
            notice = Notice(render(exc.message, languages.private), kind="error")
            return Result(line.strip().lstrip("/").split(" ")[0], [notice])
        inv = Invocation(parsed.name, parsed.options, ref, person, self.history)
        run = self.core.dispatch(inv)
        result = Result(parsed.name)
        run.reply.confirm_delivery()
        try:
            async for event in run.reply.events():
                if isinstance(event, Checkpoint):
                    event.settle(True)  # collected is as good as shown here
                else:
                    result.events.append(event)
        finally:
            run.reply.reader_gone()
            await run.wait()
        result.generated = run.reply.generated
        spec = self.core.plugins.commands.get(parsed.name)
        if result.messages and result.accepted:
            result.buttons = (REGENERATE, CONTINUE) if spec and spec.follow_up else (REGENERATE,)
        return result
