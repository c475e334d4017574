"""For bench/ only, which imports the fakes as top-level modules: the Slack world lives in
tests/harness/slack.py. Tests import it from there."""

from tests.harness.slack import SECRET, sign

__all__ = ["SECRET", "sign"]
