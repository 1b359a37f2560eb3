"""The plugin author's test kit (`skaldbot.testing`), also a pytest plugin.

Installed with skaldbot, pytest finds its fixtures by itself (`pytest11` entry point):
`skald_plugins` (override it to name your plugin classes), `skald_engine`, `skald_bot`
and `skald_channel`. The same pieces serve tests that build their own bots.
"""

from bot.testing.bot import make_config, open_bot, plugin_source
from bot.testing.channel import ChannelDriver, Result
from bot.testing.engine import ScriptedEngine
from bot.testing.limits import assert_fits_platforms, platform_problems

__all__ = [
    "ChannelDriver",
    "Result",
    "ScriptedEngine",
    "assert_fits_platforms",
    "make_config",
    "open_bot",
    "platform_problems",
    "plugin_source",
]
