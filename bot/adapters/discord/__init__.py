"""The Discord adapter: discord.py client, app commands, streamed replies."""
