"""Checking and copying the database file without changing it: `skaldbot doctor` and `backup`.

Everything here opens the file read-only through SQLite itself, so a damaged file is left
exactly as it was found (the operator may still want to recover from it).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from bot.memory.database import CORE_MIGRATIONS, CORE_OWNER


@dataclass
class Finding:
    """What one check found: ok, or a problem and what to do about it."""

    check: str
    ok: bool
    detail: str


@dataclass
class Report:
    """Every check run on one database file."""

    path: Path
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(f.ok for f in self.findings)

    def lines(self) -> list[str]:
        """One line per check, for the terminal."""
        return [f"{'ok  ' if f.ok else 'FAIL'} {f.check}: {f.detail}" for f in self.findings]


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot change the file (and fails if it does not exist)."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def check_database(path: Path, *, full: bool = True) -> Report:
    """SQLite's integrity check (quick_check when not `full`) and the core schema version."""
    report = Report(path)
    if not path.exists():
        report.findings.append(Finding("file", True, f"{path} does not exist yet (made at start)"))
        return report
    try:
        conn = _read_only(path)
    except sqlite3.Error as exc:
        report.findings.append(Finding("open", False, str(exc)))
        return report
    try:
        pragma = "integrity_check" if full else "quick_check"
        try:
            rows = [str(r[0]) for r in conn.execute(f"PRAGMA {pragma}").fetchall()]
        except sqlite3.Error as exc:
            report.findings.append(Finding(pragma, False, str(exc)))
            return report
        sound = rows == ["ok"]
        detail = "ok" if sound else "; ".join(rows[:5]) + (" …" if len(rows) > 5 else "")
        report.findings.append(Finding(pragma, sound, detail))
        report.findings.append(_schema(conn))
    finally:
        conn.close()
    return report


def _schema(conn: sqlite3.Connection) -> Finding:
    """Whether this code knows the core schema the file was last written with."""
    known = len(CORE_MIGRATIONS)
    try:
        row = conn.execute(
            "SELECT version FROM schema_versions WHERE owner = ?", (CORE_OWNER,)
        ).fetchone()
    except sqlite3.Error as exc:
        return Finding("schema", False, f"cannot read the schema version: {exc}")
    version = int(row[0]) if row else 0
    if version > known:
        return Finding(
            "schema",
            False,
            f"version {version} is newer than this Skald's {known}: upgrade Skald",
        )
    return Finding("schema", True, f"core schema version {version} of {known}")


def backup_database(path: Path, destination: Path) -> int:
    """Copy the live database into `destination` with SQLite's online backup; returns bytes.

    Safe while the bot runs (the copy is one consistent snapshot). Refuses to overwrite.
    """
    if destination.exists():
        raise FileExistsError(f"{destination} exists already: choose a new file")
    source = _read_only(path)
    try:
        target = sqlite3.connect(destination)
        try:
            source.backup(target)
        finally:
            target.close()
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    return destination.stat().st_size
