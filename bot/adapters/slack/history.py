"""Channel history for /summarize through conversations.history and conversations.replies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.markup import decode
from bot.errors import UserError
from bot.i18n import N_, _
from bot.invocation import HistoryMessage

# Slack's page size cap for history calls.
PAGE = 200
MAX_PAGES = 25
SCOPE_HINT = N_(
    "I can't read this channel's messages: a workspace admin needs to add the "
    "{scopes} scope to the Skald app and reinstall it."
)


def explain(error: SlackApiError) -> UserError:
    """A message that tells the user (and the admin) what to change."""
    code = str(error.response.get("error", "unknown_error"))
    if code == "not_in_channel":
        return UserError(
            _(
                "I'm not in this channel, so I can't read it: invite me with "
                "/invite @Skald, then try again."
            )
        )
    if code == "missing_scope":
        needed = str(error.response.get("needed", "channels:history"))
        return UserError(_(SCOPE_HINT, scopes=needed))
    if code == "channel_not_found":
        return UserError(
            _("I can't see this channel (it may be private): invite me with /invite @Skald.")
        )
    return UserError(_("Slack would not give me this channel's messages ({code}).", code=code))


class SlackHistory:
    """The recent messages of one channel (or one thread), oldest first."""

    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str | None = None,
        users: dict[str, str] | None = None,
    ) -> None:
        self._client = client
        self._channel = channel
        self._thread_ts = thread_ts
        self._users = users or {}

    async def recent(self, limit: int) -> list[HistoryMessage]:
        """Up to `limit` of the latest messages, paging as Slack asks."""
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        try:
            # History pages newest first, so it stops at `limit`; a thread's replies page
            # oldest first, so its newest need every page (up to MAX_PAGES).
            for _page in range(MAX_PAGES):
                if not self._thread_ts and len(messages) >= limit:
                    break
                size = PAGE if self._thread_ts else min(PAGE, limit - len(messages))
                args: dict[str, Any] = {"channel": self._channel, "limit": size}
                if cursor:
                    args["cursor"] = cursor
                if self._thread_ts:
                    response = await self._client.conversations_replies(ts=self._thread_ts, **args)
                else:
                    response = await self._client.conversations_history(**args)
                messages.extend(response.get("messages", []))
                cursor = (response.get("response_metadata") or {}).get("next_cursor")
                if not cursor or not response.get("has_more", bool(cursor)):
                    break
        except SlackApiError as exc:
            raise explain(exc) from None
        chosen = [m for m in messages if m.get("text") and m.get("subtype") is None]
        # conversations.history is newest first; replies are oldest first.
        chosen.sort(key=lambda m: float(m.get("ts", 0)))
        return [
            HistoryMessage(
                self._users.get(m.get("user", ""), m.get("user", "someone")),
                # As people wrote it: Slack's entities and mention markup undone.
                decode(str(m["text"])),
                datetime.fromtimestamp(float(m["ts"]), UTC),
            )
            for m in chosen[-limit:]
        ]
