"""Skald's built-in plugins: story, lyrics, summarize, tutor, rewrite, prefs, help, skald."""
