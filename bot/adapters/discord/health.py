"""`skaldbot doctor`'s Discord check: the token logs in, and the intents it needs are on."""

from __future__ import annotations

import asyncio

import aiohttp
import discord

from bot.adapters.discord.credentials import DiscordCredentials


async def check_discord(credentials: DiscordCredentials, message_content: bool) -> tuple[bool, str]:
    """(passed, what was found): log in with DISCORD_TOKEN; the Message Content intent."""
    base = discord.http.Route.BASE
    # The adapter points discord.py at the same address the same way (tests: a local fake).
    discord.http.Route.BASE = credentials.api_url
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        me = await http.static_login(credentials.token)
        who = f"{me['username']} ({me['id']})"
        if not message_content:
            return True, f"logged in as {who}"
        app = await http.application_info()
        flags = discord.ApplicationFlags._from_value(int(app.get("flags") or 0))
        if not (flags.gateway_message_content or flags.gateway_message_content_limited):
            return False, (
                f"logged in as {who}, but the Message Content intent is off: switch it on in "
                "the Developer Portal (Bot > Privileged Gateway Intents), or set "
                "discord.message_content: false"
            )
        return True, f"logged in as {who}, Message Content intent on"
    except discord.LoginFailure:
        return (
            False,
            "Discord refused DISCORD_TOKEN: copy the bot's token from the Developer Portal",
        )
    except discord.HTTPException as exc:
        return False, f"Discord answered HTTP {exc.status}"
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return (
            False,
            f"Discord's API at {credentials.api_url} cannot be reached ({type(exc).__name__})",
        )
    finally:
        await http.close()
        discord.http.Route.BASE = base
