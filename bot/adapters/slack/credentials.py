"""Slack credentials from the environment; never printed, never logged."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

DEFAULT_API_URL = "https://slack.com/api/"


@dataclass(frozen=True, slots=True)
class SlackCredentials:
    """The bot token plus a signing secret (HTTP mode) or an app-level token (Socket Mode)."""

    bot_token: str = field(repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    app_token: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL

    @property
    def mode(self) -> Literal["http", "socket"]:
        """Socket Mode when an app-level token is set, HTTP mode otherwise."""
        return "socket" if self.app_token else "http"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SlackCredentials | None:
        """The credentials the environment holds, or None when Slack is not configured."""
        bot_token = env.get("SLACK_BOT_TOKEN", "").strip()
        secret = env.get("SLACK_SIGNING_SECRET", "").strip() or None
        app_token = env.get("SLACK_APP_TOKEN", "").strip() or None
        if not bot_token or not (secret or app_token):
            return None
        api_url = env.get("SKALD_SLACK_API_URL", "").strip() or DEFAULT_API_URL
        return cls(
            bot_token, secret, app_token, api_url if api_url.endswith("/") else api_url + "/"
        )
