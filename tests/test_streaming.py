"""Streaming a reply into edited platform messages, within a shared budget."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from bot.ratelimit import TokenBucket
from bot.reply import Attachment, Notice, Reply
from bot.streaming import MessageStreamer, Unreachable


@dataclass
class RecordingTarget:
    """A platform that records what was posted and edited."""

    max_length: int = 2000
    messages: dict[int, str] = field(default_factory=dict)
    calls: list[tuple[str, int, str]] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    live: dict[int, bool] = field(default_factory=dict)
    files: list[Attachment] = field(default_factory=list)

    async def post(self, text: str, *, streaming: bool) -> int:
        handle = len(self.live) + 1
        self.live[handle] = streaming
        self.messages[handle] = text
        self.calls.append(("post", handle, text))
        return handle

    async def edit(self, handle: int, text: str, *, streaming: bool) -> None:
        self.messages[handle] = text
        self.live[handle] = streaming
        self.calls.append(("edit", handle, text))

    async def delete(self, handle: int) -> None:
        del self.messages[handle]
        self.calls.append(("delete", handle, ""))

    async def notice(self, notice: Notice) -> None:
        self.notices.append(notice)

    async def attach(self, attachment: Attachment) -> None:
        self.files.append(attachment)


async def write_slowly(reply: Reply, words: list[str], delay: float = 0.001) -> None:
    for word in words:
        await reply.write(word)
        await asyncio.sleep(delay)
    reply.close()


async def test_one_message_is_edited_as_text_arrives_and_ends_complete() -> None:
    target = RecordingTarget()
    reply = Reply()
    words = [f"w{i} " for i in range(200)]
    streamer = MessageStreamer(target, TokenBucket(rate=100, burst=2))
    writer = asyncio.create_task(write_slowly(reply, words))
    stats = await streamer.deliver(reply)
    await writer
    assert target.messages == {1: "".join(words).strip()}
    assert target.live == {1: False}  # the last edit marks it final
    assert stats.posts == 1
    # Deltas that arrive while waiting for the budget are coalesced: far fewer edits than words.
    assert 0 < stats.edits < len(words) / 2


async def test_twenty_streams_share_one_budget_and_all_finish_with_their_full_text() -> None:
    bucket = TokenBucket(rate=200, burst=5)
    targets = [RecordingTarget() for _ in range(20)]
    replies = [Reply() for _ in targets]
    texts = [[f"s{n}w{i} " for i in range(40)] for n in range(20)]
    writers = [asyncio.create_task(write_slowly(r, t)) for r, t in zip(replies, texts, strict=True)]
    stats = await asyncio.gather(
        *(MessageStreamer(t, bucket).deliver(r) for t, r in zip(targets, replies, strict=True))
    )
    await asyncio.gather(*writers)
    for target, text in zip(targets, texts, strict=True):
        assert target.messages[1] == "".join(text).strip()
    calls = sum(s.posts + s.edits for s in stats)
    assert calls <= 20 * 40  # never more calls than deltas; the bucket decides the pace


async def test_a_long_reply_continues_in_further_messages_at_boundaries() -> None:
    target = RecordingTarget(max_length=120)
    reply = Reply()
    sentences = [f"Sentence number {i} is here. " for i in range(20)]
    writer = asyncio.create_task(write_slowly(reply, sentences, delay=0))
    stats = await MessageStreamer(target, TokenBucket(rate=1000, burst=10)).deliver(reply)
    await writer
    assert len(stats.messages) > 1
    assert all(len(m) <= 120 and m.endswith(".") for m in stats.messages)
    assert " ".join(stats.messages) == "".join(sentences).strip()
    assert list(target.messages.values()) == stats.messages


async def test_message_breaks_and_notices() -> None:
    target = RecordingTarget()
    reply = Reply()
    await reply.write("first")
    await reply.new_message()
    await reply.write("second")
    await reply.notice("careful", kind="error")
    reply.close()
    stats = await MessageStreamer(target, TokenBucket(rate=1000, burst=10)).deliver(reply)
    assert stats.messages == ["first", "second"]
    assert [n.text for n in target.notices] == ["careful"]


async def test_a_working_message_appears_on_acceptance_and_becomes_the_reply() -> None:
    target = RecordingTarget()
    reply = Reply()
    streamer = MessageStreamer(target, TokenBucket(rate=1000, burst=10), placeholder="Working…")
    delivery = asyncio.create_task(streamer.deliver(reply))
    reply.accept()
    await asyncio.sleep(0.01)
    assert target.messages == {1: "Working…"}
    await reply.write("Here it is.")
    reply.close()
    stats = await delivery
    assert target.messages == {1: "Here it is."}
    assert stats.messages == ["Here it is."]


async def test_a_refused_command_posts_no_working_message() -> None:
    target = RecordingTarget()
    reply = Reply()
    await reply.notice("`messages`: must be a whole number from 1 to 200.", kind="error")
    reply.close()
    streamer = MessageStreamer(target, TokenBucket(rate=1000, burst=10), placeholder="…")
    await streamer.deliver(reply)
    assert target.messages == {} and len(target.notices) == 1


async def test_the_working_message_goes_when_the_handler_only_had_a_notice() -> None:
    target = RecordingTarget()
    reply = Reply()
    reply.accept()
    await reply.notice("There is no story running in this channel.", kind="error")
    reply.close()
    streamer = MessageStreamer(target, TokenBucket(rate=1000, burst=10), placeholder="…")
    await streamer.deliver(reply)
    assert [c[0] for c in target.calls] == ["post", "delete"]
    assert target.messages == {}


async def test_the_final_text_is_flushed_even_when_the_reader_is_cancelled() -> None:
    target = RecordingTarget()
    reply = Reply()
    await reply.write("partial text")
    task = asyncio.create_task(
        MessageStreamer(target, TokenBucket(rate=1000, burst=10)).deliver(reply)
    )
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert target.messages == {1: "partial text"}


@dataclass
class FlakyTarget(RecordingTarget):
    """A platform whose next `edit_failures` edits (and `post_failures` posts) fail."""

    edit_failures: int = 0
    post_failures: int = 0
    delete_failures: int = 0

    async def post(self, text: str, *, streaming: bool) -> int:
        if self.post_failures:
            self.post_failures -= 1
            raise ConnectionError("the platform refused the connection")
        return await super().post(text, streaming=streaming)

    async def edit(self, handle: int, text: str, *, streaming: bool) -> None:
        if self.edit_failures:
            self.edit_failures -= 1
            raise ConnectionError("503 Service Unavailable")
        await super().edit(handle, text, streaming=streaming)

    async def delete(self, handle: int) -> None:
        if self.delete_failures:
            self.delete_failures -= 1
            raise ConnectionError("503 Service Unavailable")
        await super().delete(handle)


QUICK = (0.01, 0.01)


async def test_one_failed_edit_is_tried_again_and_the_reply_ends_complete() -> None:
    target = FlakyTarget(edit_failures=1)
    reply = Reply()
    words = [f"w{i} " for i in range(60)]
    streamer = MessageStreamer(target, TokenBucket(rate=200, burst=2), retry_delays=QUICK)
    writer = asyncio.create_task(write_slowly(reply, words))
    stats = await streamer.deliver(reply)
    await writer
    assert target.messages == {1: "".join(words).strip()}
    assert target.live == {1: False}
    assert stats.retries == 1 and stats.replaced == 0


async def test_a_message_that_cannot_be_edited_continues_in_a_new_one() -> None:
    target = FlakyTarget(edit_failures=1000)
    reply = Reply()
    await reply.write("The first words")
    delivery = asyncio.create_task(
        MessageStreamer(target, TokenBucket(rate=1000, burst=10), retry_delays=QUICK).deliver(reply)
    )
    await asyncio.sleep(0.05)
    await reply.write(" and the rest.")
    reply.close()
    stats = await delivery
    # The frozen messages are gone; the last one holds the whole text and is final.
    [(last, text)] = target.messages.items()
    assert text == "The first words and the rest." and target.live[last] is False
    assert stats.replaced >= 1


async def test_a_replaced_message_that_could_not_be_removed_is_removed_at_the_end() -> None:
    target = FlakyTarget(edit_failures=3, delete_failures=1)
    reply = Reply()
    await reply.write("Some text")
    delivery = asyncio.create_task(
        MessageStreamer(target, TokenBucket(rate=1000, burst=10), retry_delays=QUICK).deliver(reply)
    )
    await asyncio.sleep(0.05)
    await reply.write(" and more.")
    await asyncio.sleep(0.1)  # the edits fail, the text moves to a new message
    reply.close()
    await delivery
    assert target.messages == {2: "Some text and more."}


async def test_when_nothing_reaches_the_user_delivery_stops_at_once() -> None:
    target = FlakyTarget(edit_failures=1000, post_failures=1000)
    reply = Reply()
    await reply.write("Nobody will read this")
    streamer = MessageStreamer(target, TokenBucket(rate=1000, burst=10), retry_delays=QUICK)
    # The reply is still open (the engine still writing), yet delivery ends with an error.
    with pytest.raises(Unreachable, match="refused the connection"):
        await asyncio.wait_for(streamer.deliver(reply), timeout=2)
    assert not reply.closed and target.messages == {}


async def test_a_lost_notice_does_not_end_the_reply() -> None:
    class DeafNotices(RecordingTarget):
        async def notice(self, notice: Notice) -> None:
            raise ConnectionError("no ephemeral messages today")

    target = DeafNotices()
    reply = Reply()
    await reply.notice("a hint")
    await reply.write("The reply itself.")
    reply.close()
    stats = await MessageStreamer(
        target, TokenBucket(rate=1000, burst=10), retry_delays=QUICK
    ).deliver(reply)
    assert stats.messages == ["The reply itself."]


async def test_a_writer_can_wait_until_its_text_is_shown() -> None:
    target = RecordingTarget()
    reply = Reply()
    # A slow budget: without the wait, the text would show only after the next token.
    streamer = MessageStreamer(target, TokenBucket(rate=0.5, burst=1))
    delivery = asyncio.create_task(streamer.deliver(reply))
    await reply.write("The opening")
    await asyncio.sleep(0.05)
    await reply.write(" and the part worth keeping.")
    assert await asyncio.wait_for(reply.delivered(), timeout=5) is True
    assert list(target.messages.values()) == ["The opening and the part worth keeping."]
    reply.close()
    await delivery


async def test_a_writer_waiting_for_text_nobody_sees_is_told_so() -> None:
    target = FlakyTarget(edit_failures=1000, post_failures=1000)
    reply = Reply()
    streamer = MessageStreamer(target, TokenBucket(rate=1000, burst=10), retry_delays=QUICK)
    delivery = asyncio.create_task(streamer.deliver(reply))
    await asyncio.sleep(0)  # the delivery has begun
    await reply.write("Nobody will read this")
    seen = asyncio.create_task(reply.delivered())
    with pytest.raises(Unreachable):
        await delivery
    assert await asyncio.wait_for(seen, timeout=1) is False
    assert await reply.delivered() is False  # and any later wait ends at once
