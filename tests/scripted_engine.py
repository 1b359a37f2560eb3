"""Moved to the shipped kit (bot/testing/engine.py); kept so older imports still work."""

from bot.testing.engine import ScriptedEngine as ScriptedEngine
