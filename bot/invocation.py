"""The neutral shape of one command, as every adapter hands it to the router."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """Where a command was typed: a channel of a workspace (server, team) of a platform."""

    platform: str
    workspace: str
    channel: str
    # The platform marks the channel as adult (Discord's NSFW flag): the `mature` rating may
    # be chosen there. Not part of the channel's identity.
    adult: bool = field(default=False, compare=False)
    # The server's language as the platform names it (Discord's guild locale, "zh-CN"): a
    # channel without its own `language` preference starts from it. Not part of the identity.
    locale: str | None = field(default=None, compare=False)

    @property
    def scope(self) -> str:
        """The key every table uses for this channel's rows."""
        return _key(self.platform, self.workspace, self.channel)

    @property
    def workspace_key(self) -> str:
        """The key of the channel's workspace (server, team): where users are blocked."""
        return _key(self.platform, self.workspace)


def _key(*parts: str) -> str:
    # "/" cannot appear in any platform's ids we know of, but escape it to stay unambiguous.
    return "/".join(p.replace("%", "%25").replace("/", "%2F") for p in parts)


@dataclass(frozen=True, slots=True)
class User:
    """The person who invoked a command."""

    id: str
    name: str
    # Set by the adapter from the platform's own permissions (Manage Channels, workspace admin).
    is_admin: bool = False
    # Role ids where the platform has roles (Discord).
    roles: tuple[str, ...] = ()
    # The bot's owner (the Discord application's owner, the person at the console): may run
    # commands that act on the whole process.
    is_owner: bool = False
    # The person's own locale where the platform tells it ("zh-TW"): their private notices
    # use it.
    locale: str | None = None
    # The names of those roles (config.yaml's access rules may name a role either way).
    role_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HistoryMessage:
    """One message of a channel's recent history."""

    author: str
    text: str
    created_at: datetime | None = None


class ChannelHistory(Protocol):
    """Reads a channel's recent messages, oldest first."""

    async def recent(self, limit: int) -> list[HistoryMessage]:
        """Up to `limit` most recent messages, oldest first."""
        ...


def new_invocation_id() -> str:
    """A short random id for one invocation (also used as the incident id on failure)."""
    return secrets.token_hex(4)


@dataclass(frozen=True, slots=True)
class Invocation:
    """One command typed by one user in one channel, before validation."""

    # The full command path, words separated by one space: "story start", "help".
    command: str
    # Raw option values as the platform gave them: strings from text, or typed values.
    options: Mapping[str, object]
    channel: ChannelRef
    user: User
    history: ChannelHistory | None = None
    id: str = field(default_factory=new_invocation_id)
