"""A write the bot acknowledged survives the process being killed at any moment.

A writer process commits numbered rows as fast as it can and prints each number only after
its transaction committed. The test kills it with SIGKILL at random moments, many times, each
new writer carrying on with the same file, then checks that the file is sound and that every
acknowledged number is there.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from bot.memory import Database
from bot.memory.store import PluginStore

SEED = 20240611
ROUNDS = 50
ACKS_BEFORE_KILL = (5, 60)
ROOT = Path(__file__).resolve().parents[1]

MIGRATIONS = (
    """
    CREATE TABLE crash_rows (
        scope TEXT NOT NULL,
        n INTEGER PRIMARY KEY,
        payload TEXT NOT NULL
    );
    CREATE TABLE crash_totals (
        scope TEXT PRIMARY KEY,
        total INTEGER NOT NULL
    );
    """,
)

# The writer: a plugin-style store writing through Database.write() (BEGIN IMMEDIATE). Each
# transaction reads the last number and the running total, inserts the next row and updates
# the total (a read-modify-write); the number is printed only once the commit returned.
WRITER = f"""
import asyncio
import sys

from bot.memory import Database
from bot.memory.store import PluginStore

MIGRATIONS = {MIGRATIONS!r}


async def main(path: str) -> None:
    db = await Database.open(path)
    await db.migrate("crash", MIGRATIONS, table_prefix="crash_")
    store = PluginStore(db, "crash", "chan")
    while True:
        async with store.write() as conn:
            cursor = await conn.execute("SELECT COALESCE(MAX(n), 0) FROM crash_rows")
            n = (await cursor.fetchone())[0] + 1
            await conn.execute(
                "INSERT INTO crash_rows (scope, n, payload) VALUES (?, ?, ?)",
                (store.scope, n, f"row {{n}} " + "x" * (n % 7 * 300)),
            )
            cursor = await conn.execute(
                "SELECT total FROM crash_totals WHERE scope = ?", (store.scope,))
            row = await cursor.fetchone()
            total = (row[0] if row else 0) + 1
            await conn.execute(
                "INSERT INTO crash_totals (scope, total) VALUES (?, ?)"
                " ON CONFLICT (scope) DO UPDATE SET total = excluded.total",
                (store.scope, total),
            )
        sys.stdout.write(f"{{n}}\\n")
        sys.stdout.flush()


asyncio.run(main(sys.argv[1]))
"""


@dataclass
class Acks:
    """What the writers acknowledged, in order."""

    numbers: list[int] = field(default_factory=list)
    kills: int = 0


def read_ack(stream: IO[str], proc: subprocess.Popen[str], stderr_path: Path) -> int | None:
    """The next acknowledged number, or None at the end of the stream (the writer is gone)."""
    line = stream.readline()
    if not line:
        return None
    if not line.endswith("\n"):  # cut off by the kill: not an acknowledgement
        return None
    try:
        return int(line)
    except ValueError:
        proc.kill()
        pytest.fail(f"writer printed {line!r}; stderr: {stderr_path.read_text()}")


def run_writers(path: Path, script: Path, rng: random.Random) -> Acks:
    """Start ROUNDS writers one after another, each killed after a random number of acks."""
    acks = Acks()
    for round_number in range(ROUNDS):
        stderr_path = path.parent / f"writer-{round_number}.err"
        with stderr_path.open("w") as stderr:
            proc = subprocess.Popen(
                [sys.executable, str(script), str(path)],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                cwd=ROOT,
            )
        assert proc.stdout is not None
        try:
            wanted = rng.randint(*ACKS_BEFORE_KILL)
            for _ in range(wanted):
                number = read_ack(proc.stdout, proc, stderr_path)
                if number is None:
                    pytest.fail(
                        f"writer {round_number} ended on its own (rc {proc.wait()}); "
                        f"stderr: {stderr_path.read_text()}"
                    )
                acks.numbers.append(number)
            # Somewhere inside the next transactions: mid-insert, mid-commit, mid-checkpoint.
            time.sleep(rng.uniform(0, 0.004))
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
            # Numbers printed before the kill but not read yet were acknowledged too.
            while (number := read_ack(proc.stdout, proc, stderr_path)) is not None:
                acks.numbers.append(number)
            acks.kills += 1
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
    return acks


async def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    print(f"random seed {SEED}, {ROUNDS} rounds")
    rng = random.Random(SEED)
    path = tmp_path / "memory.sqlite3"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)

    started = time.monotonic()
    acks = run_writers(path, script, rng)  # blocking on purpose: nothing else runs here
    print(
        f"{acks.kills} kills, {len(acks.numbers)} acknowledged writes "
        f"in {time.monotonic() - started:.1f} s"
    )

    assert acks.kills == ROUNDS
    # Each writer carried on where the last committed row left off; a number acknowledged
    # twice would mean an acknowledged write was rolled back and its number reused.
    assert acks.numbers == sorted(set(acks.numbers)), "a number was acknowledged twice"

    db = await Database.open(path)
    try:
        assert await db.integrity_check() == "ok"
        rows = await db.fetchall("SELECT n FROM crash_rows ORDER BY n")
        present = [int(r["n"]) for r in rows]
        lost = set(acks.numbers) - set(present)
        assert not lost, f"acknowledged but lost: {sorted(lost)[:20]}"
        # Committed rows have no gaps (a killed transaction left nothing behind) ...
        assert present == list(range(1, len(present) + 1))
        # ... and the read-modify-write total always moved together with its row.
        total = await db.fetchone("SELECT total FROM crash_totals WHERE scope = 'chan'")
        assert total is not None and total["total"] == len(present)
        # At most the one unacknowledged commit per kill (killed between commit and print).
        assert len(present) - len(acks.numbers) <= ROUNDS

        # The file still takes writes after all that.
        store = PluginStore(db, "crash", "chan")
        assert (
            await store.execute(
                "INSERT INTO crash_rows (scope, n, payload) VALUES (?, ?, 'after')",
                (store.scope, len(present) + 1),
            )
            == 1
        )
        row = await store.fetchone(
            "SELECT payload FROM crash_rows WHERE n = ?", (len(present) + 1,)
        )
        assert row is not None and row["payload"] == "after"
    finally:
        await db.close()
