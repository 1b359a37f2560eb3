"""Channel memory: one SQLite database for preferences, history and plugin state."""

from bot.memory.audit import AuditEntry, AuditLog
from bot.memory.controls import ChannelControls, ControlStore
from bot.memory.database import Database, MigrationError
from bot.memory.history import MessageLog
from bot.memory.prefs import PrefStore

__all__ = [
    "AuditEntry",
    "AuditLog",
    "ChannelControls",
    "ControlStore",
    "Database",
    "MessageLog",
    "MigrationError",
    "PrefStore",
]
