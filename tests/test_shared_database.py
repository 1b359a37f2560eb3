"""Several processes on one database agree: caches, cooldowns, budgets and the usage ledger.

Each test runs two cores on one SQLite file, each with a connection of its own: two in this
process, or one here and one in another OS process (tests/core_process.py), as when Discord
shards or a console beside the Discord bot share a data folder.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

import bot.memory.usage
from bot.memory import Database
from bot.memory.database import FRESHNESS_S
from bot.memory.readcache import ReadCache
from bot.memory.usage import UsageLedger
from tests.core_process import (
    CHANNEL,
    REPLY,
    CoreProcess,
    invocation,
    open_shared_core,
    serve,
)

TOKENS = len(REPLY.split())
CHANNEL_KEY = f"channel:{CHANNEL.scope}"
# Long enough for any cache in this process to have asked SQLite again since a commit.
AFTER_FRESHNESS_S = FRESHNESS_S + 0.05


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def two_databases(tmp_path: Path) -> AsyncIterator[tuple[Database, Database, Clock]]:
    """Two connections on one file; the second's checks for outside changes run on a hand clock."""
    clock = Clock()
    first = await Database.open(tmp_path / "skald.sqlite3")
    second = await Database.open(tmp_path / "skald.sqlite3", clock=clock)
    yield first, second, clock
    await first.close()
    await second.close()


@pytest.fixture
def processes() -> Iterator[list[CoreProcess]]:
    """Core processes started by a test, ended after it however it ends."""
    started: list[CoreProcess] = []
    yield started
    for proc in started:
        proc.close()


async def stored_usage(db: Database, key: str) -> int:
    row = await db.fetchone(
        "SELECT COALESCE(SUM(tokens), 0) FROM engine_usage WHERE key = ?", (key,)
    )
    assert row is not None
    return int(row[0])


# --- Caches ----------------------------------------------------------------------------------


async def test_a_cache_rereads_only_after_another_connection_committed(
    two_databases: tuple[Database, Database, Clock],
) -> None:
    first, second, clock = two_databases
    reads: list[str] = []

    async def read(key: str) -> str:
        reads.append(key)
        row = await second.fetchone("SELECT value FROM prefs WHERE scope = ?", (key,))
        return "unset" if row is None else str(row[0])

    cache: ReadCache[str] = ReadCache(second)
    assert await cache.get("chan", read) == "unset"
    # Nothing changed: served from memory however often and however long it is asked.
    for _ in range(3):
        clock.now += 10
        assert await cache.get("chan", read) == "unset"
    assert reads == ["chan"]
    # This connection's own commits are its stores' business (they invalidate): not re-read.
    await second.fetchall(
        "INSERT INTO prefs (scope, key, value, updated_at) VALUES ('elsewhere', 'k', '1', 0)"
    )
    clock.now += 10
    assert await cache.get("chan", read) == "unset"
    assert reads == ["chan"]
    # Another connection commits: seen at the first read FRESHNESS_S after the last check.
    await first.fetchall(
        "INSERT INTO prefs (scope, key, value, updated_at) VALUES ('chan', 'k', '\"teen\"', 0)"
    )
    clock.now += FRESHNESS_S
    assert await cache.get("chan", read) == '"teen"'
    assert reads == ["chan", "chan"]


async def test_a_rating_set_through_one_core_is_seen_by_the_other_within_a_second(
    tmp_path: Path,
) -> None:
    first = await open_shared_core(tmp_path)
    second = await open_shared_core(tmp_path)
    try:
        # The second core has read (and cached) the channel's rating.
        assert second.rating(CHANNEL, await second.preferences(CHANNEL.scope)) == "general"
        answer = await serve(first, invocation("prefs set", admin=True, key="rating", value="teen"))
        assert answer.text == "rating = teen"
        await asyncio.sleep(AFTER_FRESHNESS_S)
        assert second.rating(CHANNEL, await second.preferences(CHANNEL.scope)) == "teen"
    finally:
        await first.close()
        await second.close()


async def test_a_plugin_turned_off_in_another_process_is_refused_within_a_second(
    tmp_path: Path, processes: list[CoreProcess]
) -> None:
    here = await open_shared_core(tmp_path)
    try:
        # This process serves /story start (and now holds the channel's controls in memory).
        assert (await serve(here, invocation("story start", premise="a lighthouse"))).text
        other = CoreProcess(tmp_path)
        processes.append(other)
        answer = other.ask("skald disable", admin=True, plugin="story")
        assert answer.text == "story is now turned off in this channel."
        await asyncio.sleep(AFTER_FRESHNESS_S)
        answer = await serve(here, invocation("story start", premise="a second lighthouse"))
        assert answer.notices == ["/story is turned off in this channel by its admins."]
        assert not answer.text
    finally:
        await here.close()


async def test_a_user_blocked_in_another_process_is_refused_within_a_second(
    tmp_path: Path, processes: list[CoreProcess]
) -> None:
    here = await open_shared_core(tmp_path)
    try:
        assert (await serve(here, invocation("rewrite", by="7", text="hi", style="noir"))).text
        other = CoreProcess(tmp_path)
        processes.append(other)
        answer = other.ask("skald block", admin=True, user="@7")
        assert answer.text == "User 7 is now blocked from Skald in this workspace."
        await asyncio.sleep(AFTER_FRESHNESS_S)
        answer = await serve(here, invocation("rewrite", by="7", text="hi", style="noir"))
        assert answer.notices == ["The admins of this workspace have blocked you from using Skald."]
    finally:
        await here.close()


# --- Cooldowns -------------------------------------------------------------------------------


async def test_a_cooldown_started_in_one_process_refuses_in_the_other(
    tmp_path: Path, processes: list[CoreProcess]
) -> None:
    here = await open_shared_core(tmp_path, cooldown_s=60)
    try:
        other = CoreProcess(tmp_path, cooldown_s=60)
        processes.append(other)
        assert other.ask("rewrite", text="one", style="noir").text == REPLY
        answer = await serve(here, invocation("rewrite", text="two", style="noir"))
        [notice] = answer.notices
        assert notice.startswith("Slow down a little: you can use /rewrite again in")
        assert not answer.text
        # Only that person, only that command.
        assert (await serve(here, invocation("rewrite", by="43", text="two", style="noir"))).text
        # And the other way round.
        answer = other.ask("rewrite", by="43", text="three", style="noir")
        assert answer.notices[0].startswith("Slow down a little")
    finally:
        await here.close()


async def test_cooldowns_hold_in_this_process_while_the_database_refuses_writes(
    tmp_path: Path,
) -> None:
    core = await open_shared_core(tmp_path, cooldown_s=60)
    try:
        # Writes refused with SQLITE_READONLY, as for a read-only file or mount.
        await core.db.fetchall("PRAGMA query_only = 1")
        answer = await serve(core, invocation("rewrite", text="one", style="noir"))
        assert answer.text == REPLY  # served all the same
        answer = await serve(core, invocation("rewrite", text="two", style="noir"))
        assert answer.notices[0].startswith("Slow down a little")
    finally:
        await core.db.fetchall("PRAGMA query_only = 0")
        await core.close()


# --- Budgets and the usage ledger ------------------------------------------------------------


async def test_a_budget_spent_in_one_process_counts_in_the_other(
    tmp_path: Path, processes: list[CoreProcess]
) -> None:
    budget = {"fairness": {"channel_tokens_per_hour": TOKENS}}
    here = await open_shared_core(tmp_path, **budget)
    try:
        other = CoreProcess(tmp_path, **budget)
        processes.append(other)
        assert other.ask("rewrite", text="one", style="noir").text == REPLY
        answer = await serve(here, invocation("rewrite", by="43", text="two", style="noir"))
        [notice] = answer.notices
        assert notice.startswith(f"This channel has used up its {TOKENS} tokens for this hour.")
    finally:
        await here.close()


async def test_two_ledgers_on_one_file_add_up_their_charges(
    two_databases: tuple[Database, Database, Clock],
) -> None:
    first, second, _ = two_databases
    one, two = UsageLedger(first), UsageLedger(second)
    await one.charge(["channel:a", "user:x"], 6)
    await two.charge(["channel:a", "user:y"], 4)
    await one.charge(["channel:a"], 1)
    for ledger in (one, two):
        assert (await ledger.history("channel:a")).used(3600) == 11
    assert (await one.history("user:y")).used(3600) == 4
    assert await stored_usage(first, "channel:a") == 11


async def test_a_charge_whose_write_failed_stays_pending_and_is_written_later(
    tmp_path: Path,
) -> None:
    core = await open_shared_core(tmp_path)
    try:
        await core.db.fetchall("PRAGMA query_only = 1")  # every write fails from here
        answer = await serve(core, invocation("rewrite", text="one", style="noir"))
        assert answer.text == REPLY
        assert await stored_usage(core.db, CHANNEL_KEY) == 0
        # Kept, once per key (the channel and the user), and counted here meanwhile.
        assert core.usage.pending_tokens == 2 * TOKENS
        assert (await core.usage.history(CHANNEL_KEY)).used(3600) == TOKENS
        with pytest.raises(Exception, match="readonly"):
            await core.usage.flush()
        assert core.usage.pending_tokens == 2 * TOKENS
        # The disk takes writes again: the next charge writes both, once.
        await core.db.fetchall("PRAGMA query_only = 0")
        await serve(core, invocation("rewrite", text="two", style="noir"))
        assert core.usage.pending_tokens == 0
        assert await stored_usage(core.db, CHANNEL_KEY) == 2 * TOKENS
        await core.usage.flush()
        assert await stored_usage(core.db, CHANNEL_KEY) == 2 * TOKENS
    finally:
        await core.close()


async def test_a_pending_charge_is_written_in_the_background_once_the_disk_takes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.memory.usage, "RETRY_EVERY_S", 0.05)
    core = await open_shared_core(tmp_path)
    try:
        await core.db.fetchall("PRAGMA query_only = 1")
        await serve(core, invocation("rewrite", text="one", style="noir"))
        assert core.usage.pending_tokens == 2 * TOKENS
        await core.db.fetchall("PRAGMA query_only = 0")
        # No other charge comes: the background retry writes it (looked at for up to 10 s).
        for _ in range(200):
            if not core.usage.pending_tokens:
                break
            await asyncio.sleep(0.05)
        assert core.usage.pending_tokens == 0
        assert await stored_usage(core.db, CHANNEL_KEY) == TOKENS
    finally:
        await core.close()


async def test_a_charge_cancelled_while_it_is_written_is_counted_once(
    two_databases: tuple[Database, Database, Clock],
) -> None:
    first, _, _ = two_databases
    ledger = UsageLedger(first)
    # Cancelled once the charge was made, at every point of its write: beginning, writing,
    # committing, after the commit (the connection's thread answers in its own time).
    charges = 0
    for steps in list(range(1, 30)) * 3:
        charging = asyncio.create_task(ledger.charge(["channel:a"], 1))
        charges += 1
        for _ in range(steps):
            await asyncio.sleep(0)
        charging.cancel()
        await asyncio.gather(charging, return_exceptions=True)
    await ledger.flush()
    assert ledger.pending_tokens == 0
    assert await stored_usage(first, "channel:a") == charges


async def test_a_charge_acknowledged_before_a_sigkill_is_on_disk(
    tmp_path: Path, processes: list[CoreProcess]
) -> None:
    # A reply's use is acknowledged when the process reports the reply finished. Each
    # process is killed while its next request runs, at a random moment (before, during or
    # after that request's charge is written).
    rng = random.Random(20261129)
    acknowledged = 0
    kills = 5
    for _ in range(kills):
        proc = CoreProcess(tmp_path)
        processes.append(proc)
        for _ in range(rng.randint(1, 3)):
            assert proc.ask("rewrite", text="words", style="noir").text == REPLY
            acknowledged += TOKENS
        proc.send("rewrite", text="unfinished", style="noir")
        await asyncio.sleep(rng.uniform(0, 0.05))
        proc.kill()
    db = await Database.open(tmp_path / "skald.sqlite3")  # as the next start would
    try:
        assert await db.integrity_check() == "ok"
        stored = await stored_usage(db, CHANNEL_KEY)
        # Every acknowledged charge, plus at most the one each kill cut short.
        assert acknowledged <= stored <= acknowledged + kills * TOKENS
        assert stored % TOKENS == 0  # no charge was written in part
    finally:
        await db.close()
