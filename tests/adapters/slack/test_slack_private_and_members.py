"""Issue 19 through the real Slack adapter (HTTP mode, fake Web API): slash commands in a
direct message, roles, first coordinators, people who leave, and Slack Connect outsiders.
Payloads have the shapes of Slack's docs (slash commands in a DM carry
`channel_name=directmessage` and a D… channel id)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from tests.harness.slack import TEAM_CHANNEL, Workspace, dm, text_of

ANNA, BRAM, COR = "U0ANNA", "U0BRAM", "U0COR"


def in_dm(user: str) -> dict[str, str]:
    return {"channel": dm(user), "channel_name": "directmessage"}


def said_to(slack: Workspace, user: str) -> str:
    """Everything Samen said to `user` privately: posted in their DM or ephemeral."""
    posted = [text_of(c) for c in slack.posted(dm(user))]
    ephemeral = [
        str(c.args.get("text", ""))
        for c in slack.fake.called("chat.postEphemeral")
        if c.args.get("user") == user
    ]
    return "\n".join(posted + ephemeral)


def teams(slack: Workspace) -> list[str]:
    with sqlite3.connect(str(slack.runtime.store.engine.url.database)) as db:
        return sorted(str(c) for (c,) in db.execute("select channel from teams"))


async def test_slash_commands_in_a_direct_message_make_no_team(slack: Workspace) -> None:
    await slack.slash(ANNA, "help")
    assert await slack.slash(ANNA, "traject T-0412 2026-11-02") == 200
    await slack.wait(timedelta(seconds=5))
    before = said_to(slack, ANNA)
    for words in ("help", "open", "evaluaties", "evaluatie T-0412 mdo", "afwezig tot 2026-12-04"):
        assert await slack.slash(ANNA, words, **in_dm(ANNA)) == 200
        await slack.wait(timedelta(seconds=3))
    said = said_to(slack, ANNA)[len(before) :]
    assert "Samen helpt je team" in said
    assert "openstaande vragen" in said
    assert "Ik ken geen traject" not in said
    assert "De evaluatie van T-0412 staat op de agenda" in said
    assert teams(slack) == [TEAM_CHANNEL]  # the DM's D… channel became no team
    # Nothing went to the team channel in answer to the private commands.
    assert not [c for c in slack.posted(TEAM_CHANNEL) if "T-0412" in text_of(c)]


async def event(slack: Workspace, body: dict[str, object], event_id: str) -> None:
    status, _ = await slack.post(slack.event_body(body, event_id), "application/json")
    assert status == 200
    await slack.settle()


async def members(slack: Workspace) -> dict[str, list[str]]:
    store = slack.runtime.store
    [team] = await store.teams()
    return {m.user: list(m.roles) for m in await store.members(team.id)}


async def test_the_person_who_invited_samen_is_the_first_coordinator(slack: Workspace) -> None:
    # Slack's member_joined_channel for the bot itself, with the person who invited it.
    joined = {
        "type": "member_joined_channel",
        "user": "UBOT",
        "channel": TEAM_CHANNEL,
        "channel_type": "C",
        "team": "T0001",
        "inviter": BRAM,
        "event_ts": "1700000000.000100",
    }
    await event(slack, joined, "Ev0BOTJOIN")
    await slack.wait(timedelta(seconds=5))
    assert (await members(slack))[BRAM] == ["coordinator"]
    said = [text_of(c) for c in slack.posted(TEAM_CHANNEL)]
    assert sum("coördineert dit team in Samen" in t for t in said) == 1
    # The greeting (to the inviter) asks nothing of Slack people: no Start to press, as
    # on Telegram.
    hello = said_to(slack, BRAM)
    assert "Samen helpt dit team" in hello and "Start" not in hello
    # Anna, a member but no coordinator, cannot change roles.
    await slack.slash(ANNA, "help")
    await slack.slash(ANNA, f"rol <@{ANNA}|anna> coördinator")
    assert "Alleen een coördinator" in said_to(slack, ANNA)
    await slack.slash(BRAM, f"rol <@{ANNA}|anna> voorzitter")
    assert (await members(slack))[ANNA] == ["chair"]


async def test_without_an_inviter_the_channel_creator_coordinates(slack: Workspace) -> None:
    slack.fake.creators[TEAM_CHANNEL] = COR
    joined = {"type": "member_joined_channel", "user": "UBOT", "channel": TEAM_CHANNEL}
    await event(slack, joined | {"team": "T0001"}, "Ev0BOTJOIN2")
    assert (await members(slack))[COR] == ["coordinator"]


async def test_a_slack_connect_outsider_is_never_enrolled(slack: Workspace) -> None:
    await slack.slash(ANNA, "help")
    outsider = "U0EXTERN"
    mention = {
        "type": "app_mention",
        "user": outsider,
        "user_team": "T0OTHERORG",
        "source_team": "T0OTHERORG",
        "text": "<@UBOT> hallo",
        "channel": TEAM_CHANNEL,
        "ts": "1700000000.000200",
    }
    await event(slack, mention, "Ev0EXT1")
    joined = {
        "type": "member_joined_channel",
        "user": outsider,
        "channel": TEAM_CHANNEL,
        "channel_type": "C",
        "team": "T0OTHERORG",
    }
    await event(slack, joined, "Ev0EXT2")
    await slack.wait(timedelta(seconds=5))
    assert outsider not in await members(slack)
    told = [c for c in slack.fake.called("chat.postEphemeral") if c.args.get("user") == outsider]
    assert len(told) == 1 and "alleen voor het zorgteam" in told[0].args["text"]
    # A visit's forms go to the team, not to the outsider.
    await slack.slash(ANNA, "bezoek 2026-11-24 14:00")
    await slack.wait(timedelta(hours=5, seconds=1))
    assert slack.posted(dm(ANNA))
    assert not slack.posted(dm(outsider))


async def test_a_member_who_leaves_the_channel_stops_holding_up_the_collect(
    slack: Workspace,
) -> None:
    for user in (ANNA, BRAM):
        await slack.slash(user, "help")
    await slack.slash(ANNA, "bezoek 2026-11-24 14:00")
    await slack.wait(timedelta(hours=5, seconds=1))
    form = slack.last(dm(ANNA), "Hoe zit je erbij")
    assert await slack.click(ANNA, form, "a|", action_ts=1000.0) == 200
    values = {"erbij": "Nieuwsgierig"}
    assert await slack.open_and_submit(ANNA, form, values) == 200
    assert await slack.click(ANNA, form, "f|") == 200  # "klaar": her optional ones left
    await slack.wait(timedelta(seconds=5))
    assert not slack.posted(TEAM_CHANNEL, "Zo gaan jullie")
    left = {"type": "member_left_channel", "user": BRAM, "channel": TEAM_CHANNEL}
    await event(slack, left | {"channel_type": "C", "team": "T0001"}, "Ev0LEFT")
    await slack.wait(timedelta(seconds=10))
    assert BRAM not in await members(slack)
    summary = slack.last(TEAM_CHANNEL, "Zo gaan jullie")
    assert str(summary.args["text"]).count("Niet meer in het team: bram") == 1


async def test_a_person_in_two_channels_picks_the_team_by_button(slack: Workspace) -> None:
    zuid = {"channel": "C0ZUIDTEAM", "channel_name": "wijkteam-zuid"}
    await slack.slash(ANNA, "help")
    await slack.slash(ANNA, "help", **zuid)
    await slack.wait(timedelta(seconds=5))
    await slack.slash(ANNA, "afwezig tot 2026-12-04", **in_dm(ANNA))
    await slack.wait(timedelta(seconds=3))
    asked = slack.last(dm(ANNA), "Over welk team gaat dit?")
    button = slack.button(asked, "wijkteam-zuid")
    channel, ts = slack.ref(asked)
    status, _ = await slack.post(slack.click_body(ANNA, button, channel=channel, message_ts=ts))
    assert status == 200
    await slack.wait(timedelta(seconds=3))
    store = slack.runtime.store
    away = {}
    for team in await store.teams():
        member = await store.get_member(team.id, ANNA)
        assert member is not None
        away[team.name] = member.absent_until
    assert {k: str(v) for k, v in away.items()} == {
        "wijkteam-oost": "None",
        "wijkteam-zuid": "2026-12-04",
    }
    assert teams(slack) == sorted([TEAM_CHANNEL, "C0ZUIDTEAM"])


def test_a_button_pressed_by_someone_of_another_organisation_is_marked() -> None:
    from adapters.slack.parse import parse_block_actions

    # The block_actions shape of Slack's docs, from a Slack Connect channel: the person's
    # own workspace (`user.team_id`) is not the one Samen is installed in (`team.id`).
    body = {
        "type": "block_actions",
        "user": {"id": "U0EXTERN", "username": "ext", "team_id": "T0OTHERORG"},
        "api_app_id": "A1",
        "container": {"type": "message", "message_ts": "1.2", "channel_id": TEAM_CHANNEL},
        "trigger_id": "1.4242.click",
        "team": {"id": "T0001", "domain": "zorgteam"},
        "channel": {"id": TEAM_CHANNEL, "name": "x"},
        "actions": [
            {
                "type": "button",
                "action_id": "a|0123456789abcdef|prep|rol",
                "value": "leiden",
                "action_ts": "1.3",
            }
        ],
    }
    [pressed] = parse_block_actions(body)
    assert pressed.payload.get("outsider") is True
    body["user"] = {"id": ANNA, "team_id": "T0001"}
    [own] = parse_block_actions(body)
    assert "outsider" not in own.payload


def test_a_slash_command_in_a_direct_message_is_the_persons_private_chat() -> None:
    from adapters.slack.parse import parse_command

    # The slash command body Slack sends from a DM (`channel_name=directmessage`).
    body = {
        "token": "x",
        "team_id": "T0001",
        "channel_id": "D0ANNA",
        "channel_name": "directmessage",
        "user_id": ANNA,
        "user_name": "anna",
        "command": "/samen",
        "text": "evaluatie T-0412 mdo",
        "trigger_id": "1.2.3",
    }
    inbound = parse_command(body)
    assert inbound is not None and inbound.channel == f"dm:{ANNA}"
    assert "channel_name" not in inbound.payload
    # A private channel's name is not told ("privategroup"): the team keeps no such name.
    private = parse_command(body | {"channel_id": "C0PRIV", "channel_name": "privategroup"})
    assert private is not None and private.channel == "C0PRIV"
    assert "channel_name" not in private.payload
