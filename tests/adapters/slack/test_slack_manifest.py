"""adapters/slack/manifest.yaml against the code: scopes for every Web API method the
adapter calls, the events it listens to, the commands Samen understands."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.slack.adapter import EVENTS, HOME_EVENT
from adapters.slack.parse import parse_command
from bot.runtime.inbox import COMMANDS

SLACK = Path(__file__).resolve().parents[3] / "adapters" / "slack"
MANIFEST = SLACK / "manifest.yaml"

# Slack's method reference: the bot scopes that allow each method (any one of them).
# A method the adapter starts calling must be added here, with its scope in the manifest.
METHOD_SCOPES: dict[str, set[str]] = {
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.delete": {"chat:write"},  # a bot token deletes only the bot's own messages
    "chat.postEphemeral": {"chat:write"},
    "conversations.open": {"im:write", "mpim:write", "channels:manage", "groups:write"},
    "users.info": {"users:read"},
    "conversations.info": {"channels:read", "groups:read", "im:read", "mpim:read"},
    "views.open": set(),  # no scope: the trigger_id is the permission
    "views.publish": set(),
    "auth.test": set(),
}
# The scopes an event subscription needs (any one of them).
EVENT_SCOPES: dict[str, set[str]] = {
    "app_mention": {"app_mentions:read"},
    "member_joined_channel": {"channels:read", "groups:read"},
    "member_left_channel": {"channels:read", "groups:read"},
    "app_home_opened": set(),
}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def methods_called() -> set[str]:
    """Every `client.<method>(` in the adapter's source, as Slack's method name."""
    found: set[str] = set()
    for path in SLACK.glob("*.py"):
        for name in re.findall(r"\bclient\.([a-z]+_[A-Za-z]+)\(", path.read_text()):
            found.add(name.replace("_", ".", 1))
    return found


def test_the_adapter_calls_methods_the_check_knows() -> None:
    called = methods_called()
    assert {"chat.postMessage", "chat.update", "views.open", "views.publish"} <= called
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"add Slack's scope for {sorted(unknown)} to METHOD_SCOPES"


def test_every_method_is_covered_by_a_bot_scope(manifest: dict[str, Any]) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    for method in methods_called():
        needed = METHOD_SCOPES[method]
        assert not needed or needed & scopes, f"{method} needs one of {sorted(needed)}"
    assert "commands" in scopes  # slash commands


def test_events_match_the_listeners_and_their_scopes(manifest: dict[str, Any]) -> None:
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events == {*EVENTS, HOME_EVENT}
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    for event in events:
        needed = EVENT_SCOPES[event]
        assert not needed or needed & scopes, f"event {event} needs one of {sorted(needed)}"


def test_the_commands_are_the_ones_samen_answers(manifest: dict[str, Any]) -> None:
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/samen", "/bel"]
    for command in commands:
        inbound = parse_command(
            {"command": command["command"], "text": "", "user_id": "U1", "trigger_id": "t"}
        )
        assert inbound is not None
        assert inbound.payload["command"] in COMMANDS  # the words the inbox dispatches
        assert len(command["description"]) <= 100  # Slack's limit
    samen = commands[0]
    assert samen["should_escape"] is True  # people arrive as <@U…|name>, see parse.py


def test_socket_mode_interactivity_and_the_home_tab_are_on(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] is True
    assert home["messages_tab_enabled"] is True  # Samen's DMs live there
    assert manifest["features"]["bot_user"]["display_name"] == "Samen"
    assert len(manifest["display_information"]["description"]) <= 139
