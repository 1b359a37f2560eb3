"""Channel memory: one SQLite database for preferences, history and plugin state."""

from bot.memory.database import Database, MigrationError
from bot.memory.history import MessageLog
from bot.memory.prefs import PrefStore

__all__ = ["Database", "MessageLog", "MigrationError", "PrefStore"]
