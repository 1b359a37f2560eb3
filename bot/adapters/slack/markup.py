"""Slack's markup rules at the edge: text going out is escaped, text coming in is decoded.

Slack reads `<…>` in message text as mentions (`<@U123>`, `<!channel>`) and links
(`<https://…|label>`), so `&`, `<` and `>` in user or model text must go out as `&amp;`,
`&lt;` and `&gt;` (https://api.slack.com/reference/surfaces/formatting#escaping).
`outgoing` does that to a whole message payload, and both ways the bot sends messages
(the Web API client and a command's response_url) call it, so no text can miss it.
Markup the bot makes on purpose is a `Markup` and goes out as it is.
"""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook import WebhookResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

# A section block's text holds 3,000 characters (counted after escaping).
SECTION_LIMIT = 3000
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# What Slack puts in slash-command text: mentions, channels, links, and the three entities.
_MARKUP = re.compile(r"<([^<>]*)>")
_ENTITIES = re.compile(r"&(amp|lt|gt);")
_UNESCAPE = {"amp": "&", "lt": "<", "gt": ">"}
# A Slack user mention as Slack sends it with `should_escape`: <@U123> or <@U123|name>.
USER_MENTION = re.compile(r"^<@([UW][A-Z0-9]{1,40})(?:\|[^<>]*)?>$")


class Markup(str):
    """Text the bot wrote as Slack markup on purpose (a mention it means): sent unescaped."""

    __slots__ = ()


def escape(text: str) -> str:
    """Text as Slack shows it literally: `&`, `<` and `>` as entities; Markup as it is."""
    if isinstance(text, Markup):
        return str(text)
    return text.translate(_ESCAPES)


def escaped_length(text: str) -> int:
    """How many characters the text takes once escaped (Slack's limits count those)."""
    return len(escape(text))


def sections(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """The text in pieces that each fit a section block once escaped, cut at a space if any."""
    pieces: list[str] = []
    rest = text
    while escaped_length(rest) > limit:
        used, cut = 0, 0
        for i, ch in enumerate(rest):
            used += escaped_length(ch)
            if used > limit:
                break
            cut = i + 1
        space = max(rest.rfind(" ", 0, cut), rest.rfind("\n", 0, cut))
        if space > cut // 2:
            cut = space + 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return pieces


def _escape_blocks(value: Any) -> Any:
    """Every mrkdwn text object in blocks, escaped (plain_text is never parsed for markup)."""
    if isinstance(value, list):
        return [_escape_blocks(v) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
        return {**value, "text": escape(value["text"])}
    return {k: _escape_blocks(v) for k, v in value.items()}


def outgoing(payload: dict[str, Any]) -> dict[str, Any]:
    """A message payload with its `text` and every mrkdwn block text escaped."""
    out = dict(payload)
    if isinstance(out.get("text"), str):
        out["text"] = escape(out["text"])
    if isinstance(out.get("blocks"), list):
        out["blocks"] = _escape_blocks(out["blocks"])
    return out


def decode(text: str) -> str:
    """Slash-command text as the person typed it: Slack's markup and entities undone.

    A mention becomes `<@U123>` (what a user option takes), a channel `#name`, a special
    mention `@here`, a link its address; `&lt;` becomes `<` again.
    """

    def plain(match: re.Match[str]) -> str:
        inner, _sep, label = match.group(1).partition("|")
        if inner.startswith("@"):
            return f"<{inner}>"
        if inner.startswith("#"):
            return f"#{label}" if label else inner
        if inner.startswith("!"):
            return label or "@" + inner[1:].split("^")[0]
        return label if label and not inner.startswith(("http:", "https:", "mailto:")) else inner

    return unescape(_MARKUP.sub(plain, text))


def unescape(text: str) -> str:
    """`&amp;`, `&lt;` and `&gt;` back into the characters (in one pass, so none twice)."""
    return _ENTITIES.sub(lambda m: _UNESCAPE[m.group(1)], text)


class EscapingWebClient(AsyncWebClient):
    """The Web API client whose every call has its message text escaped (see `outgoing`)."""

    async def api_call(
        self, api_method: str, *, json: dict[str, Any] | None = None, **kwargs: Any
    ) -> AsyncSlackResponse:
        """Escape the payload, then call as usual."""
        if json is not None:
            json = outgoing(json)
        for part in ("data", "params"):
            if isinstance(kwargs.get(part), dict):
                kwargs[part] = outgoing(kwargs[part])
        return await super().api_call(api_method, json=json, **kwargs)


class EscapingWebhookClient(AsyncWebhookClient):
    """A response_url client whose messages have their text escaped (see `outgoing`)."""

    async def send_dict(
        self, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> WebhookResponse:
        """Escape the payload, then send as usual."""
        return await super().send_dict(outgoing(body), headers=headers)
