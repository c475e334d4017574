"""Telegram conformance: updates built with python-telegram-bot's own classes."""
