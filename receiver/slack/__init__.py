"""Slack: message blocks, the slash command and buttons (slack-bolt), roles."""
