"""For bench/ only, which imports the fakes as top-level modules: the fake Telegram Bot API
lives in tests/harness/fake_telegram.py. Tests import it from there."""

from tests.harness.fake_telegram import BOT, TOKEN, FakeTelegram

__all__ = ["BOT", "TOKEN", "FakeTelegram"]
