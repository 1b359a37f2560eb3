"""Content ratings: what each allows, and where `mature` may be chosen."""

from __future__ import annotations

from typing import Literal, get_args

from bot.invocation import ChannelRef

Rating = Literal["general", "teen", "mature"]
RATINGS: tuple[Rating, ...] = get_args(Rating)
# The levels of the filter lists: a phrase listed under a level is allowed from that
# rating up; "always" is allowed nowhere.
Level = Literal["teen", "mature", "always"]
LEVELS: tuple[Level, ...] = get_args(Level)
_RANK = {"general": 0, "teen": 1, "mature": 2, "always": 3}


def blocks(rating: str, level: str) -> bool:
    """True when a channel of this rating blocks phrases listed under this level."""
    return _RANK[rating] < _RANK[level]


def mature_allowed(channel: ChannelRef, mature_workspaces: tuple[str, ...]) -> bool:
    """Mature content needs an adult channel (Discord's NSFW flag) or config.yaml's consent.

    config.yaml names workspaces as "platform:workspace" (e.g. "slack:T0123",
    "discord:80351110224678912", "console:local").
    """
    return channel.adult or f"{channel.platform}:{channel.workspace}" in mature_workspaces


def effective_rating(
    stored: str, channel: ChannelRef, mature_workspaces: tuple[str, ...]
) -> Rating:
    """The rating that applies: `mature` falls back to `teen` where it is not allowed.

    A channel can lose its adult flag after its admins chose `mature`; it never keeps a
    rating its platform no longer allows.
    """
    if stored == "mature" and not mature_allowed(channel, mature_workspaces):
        return "teen"
    for rating in RATINGS:
        if rating == stored:
            return rating
    return "general"
