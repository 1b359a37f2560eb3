"""Slack: every plugin as workspace slash commands (all Slack code lives in this package)."""
