"""For bench/ only, which imports the fakes as top-level modules: the fake Slack Web API
lives in tests/harness/fake_slack.py. Tests import it from there."""

from tests.harness.fake_slack import Call, FakeSlack

__all__ = ["Call", "FakeSlack"]
