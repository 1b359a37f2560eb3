"""Discord credentials and addresses from the environment; the token is never printed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_API_URL = "https://discord.com/api/v10"


@dataclass(frozen=True, slots=True)
class DiscordCredentials:
    """The bot token, and where Discord's REST API and gateway are."""

    token: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    # None: ask the REST API's GET /gateway/bot, as Discord's own clients do.
    gateway_url: str | None = None

    @property
    def custom_api(self) -> bool:
        """True when the REST API is not Discord's own (a local server in tests)."""
        return self.api_url != DEFAULT_API_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DiscordCredentials | None:
        """The credentials the environment holds, or None when Discord is not configured."""
        token = env.get("DISCORD_TOKEN", "").strip()
        if not token:
            return None
        api_url = env.get("SKALD_DISCORD_API_URL", "").strip().rstrip("/") or DEFAULT_API_URL
        gateway = env.get("SKALD_DISCORD_GATEWAY_URL", "").strip() or None
        return cls(token, api_url, gateway)
