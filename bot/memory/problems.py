"""What a storage error means for the person who asked: one short sentence, never a traceback."""

from __future__ import annotations

import sqlite3

from bot.i18n import Text, _

# SQLite's primary result codes (the low byte of an extended code).
_FULL = {sqlite3.SQLITE_FULL}
_READ_ONLY = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN}
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


def storage_kind(error: sqlite3.Error) -> str:
    """A short label for logs and metrics: full, read_only, busy, damaged, write, io or other."""
    extended = getattr(error, "sqlite_errorcode", None) or 0
    code = extended & 0xFF
    text = str(error).lower()
    if extended == sqlite3.SQLITE_IOERR_WRITE:
        # SQLite answers SQLITE_FULL only for ENOSPC; a file at its size limit (EFBIG), a
        # quota reached (EDQUOT) or a failing disk (EIO) all come back as this one code.
        return "write"
    if code in _FULL or "disk is full" in text:
        return "full"
    if code in _READ_ONLY or "readonly" in text or "read-only" in text:
        return "read_only"
    if code in _BUSY or "locked" in text:
        return "busy"
    if code in _DAMAGED or "malformed" in text or "not a database" in text:
        return "damaged"
    if code == sqlite3.SQLITE_IOERR or "i/o error" in text:
        return "io"
    return "other"


def storage_problem(error: sqlite3.Error) -> Text:
    """The sentence to show for a storage error ("could not save: the disk is full")."""
    kind = storage_kind(error)
    if kind == "full":
        return _("Could not save: the disk is full.")
    if kind == "read_only":
        return _("Could not save: the database is read-only.")
    if kind == "busy":
        return _("Could not save: the database is busy. Please try again.")
    if kind == "damaged":
        return _(
            "Could not read or save: the database file is damaged. The bot's operator can "
            "run skaldbot doctor."
        )
    if kind == "write":
        return _("Could not save: the disk refused the write (it may be full).")
    if kind == "io":
        return _("Could not save: the disk reported an error.")
    return _("Could not save: the database refused ({error}).", error=type(error).__name__)
