"""Edit pacing per Discord channel, learned from the rate-limit headers of each answer."""

from __future__ import annotations

from bot.adapters.discord.pacing import START_RATE, EditPacers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def headers(limit: int, remaining: int, reset_after: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset-After": str(reset_after),
        "X-RateLimit-Bucket": "abcd",
    }


def test_a_channel_starts_cautious_then_follows_what_discord_says() -> None:
    pacers = EditPacers(Clock())
    bucket = pacers.bucket("111")
    assert bucket.rate == START_RATE
    pacers.observe("/api/v10/channels/111/messages/222", 200, headers(5, 4, 5.0))
    # Four edits per five seconds and no burst: any five-second stretch holds at most five.
    assert bucket.rate == 4 / 5.0
    assert pacers.bucket("333").rate == START_RATE  # other channels are not affected


def test_interaction_webhook_edits_count_against_their_channel() -> None:
    pacers = EditPacers(Clock())
    pacers.bind_token("tok-1", "111")
    assert pacers.channel_of("/api/v10/webhooks/9/tok-1/messages/@original") == "111"
    assert pacers.channel_of("/api/v10/webhooks/9/tok-1") == "111"
    assert pacers.channel_of("/api/v10/interactions/5/tok-1/callback") is None
    pacers.observe("/api/v10/webhooks/9/tok-1/messages/@original", 200, headers(5, 3, 2.0))
    assert pacers.bucket("111").rate == 4 / 2.0
    pacers.forget_token("tok-1")
    assert pacers.channel_of("/api/v10/webhooks/9/tok-1") is None


def test_an_empty_bucket_or_a_429_pauses_the_channel() -> None:
    clock = Clock()
    pacers = EditPacers(clock)
    bucket = pacers.bucket("111")
    pacers.observe("/api/v10/channels/111/messages/2", 200, headers(5, 0, 3.5))
    assert bucket.wait_time() == 3.5
    clock.now += 3.5
    assert bucket.wait_time() == 0
    retry = {**headers(5, 0, 2.0), "Retry-After": "2"}
    pacers.observe("/api/v10/channels/111/messages/2", 429, retry)
    assert bucket.wait_time() == 2.0


def test_a_global_429_pauses_every_channel() -> None:
    pacers = EditPacers(Clock())
    a, b = pacers.bucket("1"), pacers.bucket("2")
    pacers.observe(
        "/api/v10/channels/1/messages",
        429,
        {"X-RateLimit-Global": "true", "Retry-After": "4"},
    )
    assert a.wait_time() == 4 and b.wait_time() == 4
