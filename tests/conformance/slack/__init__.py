"""Slack conformance: payloads from slack-bolt, slack-sdk and Slack's docs."""
