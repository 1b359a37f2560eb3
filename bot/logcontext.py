"""Structured log lines: every line logged while serving a command names that command.

The router sets the command's fields (incident id, platform, channel, plugin) in a context
variable inside the command's own task; a log record factory adds them to every record made
in that task and in tasks it starts, whichever module logs.
"""

from __future__ import annotations

import contextvars
import logging
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

_NONE: Mapping[str, str] = types.MappingProxyType({})
_fields: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "skald_log_fields", default=_NONE
)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(skald)s"


@contextmanager
def log_fields(**fields: str) -> Iterator[None]:
    """Add these fields to every log line made inside the block (in this task)."""
    token = _fields.set({**_fields.get(), **fields})
    try:
        yield
    finally:
        _fields.reset(token)


def add_fields(**fields: str) -> None:
    """Add fields until the enclosing log_fields block ends (the plugin, once known)."""
    _fields.set({**_fields.get(), **fields})


_installed = False


def install_record_fields() -> None:
    """Give every log record made from now on the running command's fields (idempotent).

    Each record gets `skald_<field>` attributes and `skald` (" key=value ..." or "") for
    formats, whichever handler later writes it.
    """
    global _installed
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def with_fields(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        fields = _fields.get()
        for key, value in fields.items():
            setattr(record, f"skald_{key}", value)
        record.skald = "".join(f" {k}={v}" for k, v in fields.items())
        return record

    logging.setLogRecordFactory(with_fields)


def install(handler: logging.Handler) -> None:
    """Make a handler print the command fields at the end of each line."""
    install_record_fields()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
