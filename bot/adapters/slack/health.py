"""`skaldbot doctor`'s Slack check: the bot token passes auth.test and holds every scope."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.commands import BOT_SCOPES
from bot.adapters.slack.credentials import SlackCredentials

TIMEOUT_S = 10


async def check_slack(credentials: SlackCredentials) -> tuple[bool, str]:
    """(passed, what was found): auth.test with SLACK_BOT_TOKEN, then the granted scopes."""
    client = AsyncWebClient(
        token=credentials.bot_token, base_url=credentials.api_url, timeout=TIMEOUT_S
    )
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        return False, (
            f"auth.test refused SLACK_BOT_TOKEN ({error or 'no reason given'}): copy the Bot "
            "User OAuth Token (xoxb-...) from the app's OAuth & Permissions page"
        )
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return (
            False,
            f"Slack's Web API at {credentials.api_url} cannot be reached ({type(exc).__name__})",
        )
    headers = {k.lower(): v for k, v in (response.headers or {}).items()}
    granted = {s.strip() for s in str(headers.get("x-oauth-scopes", "")).split(",")}
    who = f"{response.get('user')} in {response.get('team')} ({credentials.mode} mode)"
    missing = [scope for scope in BOT_SCOPES if scope not in granted]
    if missing:
        return False, (
            f"signed in as {who}, but the token lacks the scopes {', '.join(missing)}: add "
            "them under OAuth & Permissions (or from `skaldbot commands --format slack`) and "
            "reinstall the app"
        )
    return True, f"signed in as {who}, every scope granted"
