"""Each person's Slack time zone: users.info once a day per person, stored on the member,
and a nudge for that one person waits for working hours in THEIR zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.harness.slack import TEAM_CHANNEL, Workspace, dm

ANNA, COR = "U0ANNA", "U0COR"


@pytest.fixture
def slack(slack: Workspace) -> Workspace:
    """The workspace of conftest.py, with Cor on Curaçao."""
    slack.fake.zones[COR] = "America/Curacao"
    return slack


async def zone_of(slack: Workspace, user: str) -> str | None:
    store = slack.runtime.store
    team = await store.team_for_channel("slack", TEAM_CHANNEL, now=slack.clock.now())
    member = await store.get_member(team.id, user)
    return member.timezone if member is not None else None


async def test_a_persons_zone_is_looked_up_once_a_day_and_stored(slack: Workspace) -> None:
    wall = [1_800_000_000.0]
    slack.adapter.wall_clock = lambda: wall[0]
    await slack.slash(COR, "help")
    await slack.slash(COR, "status")  # stores the zone if the first lookup beat the service
    assert await zone_of(slack, COR) == "America/Curacao"
    await slack.slash(COR, "help")
    assert [c.args["user"] for c in slack.fake.called("users.info")] == [COR]
    await slack.slash(ANNA, "help")
    await slack.slash(ANNA, "status")
    assert await zone_of(slack, ANNA) == "Europe/Amsterdam"
    wall[0] += 24 * 3600  # a day later the profile is asked again (zones change)
    slack.fake.zones[COR] = "America/Puerto_Rico"
    await slack.slash(COR, "help")
    await slack.slash(COR, "help")
    assert [c.args["user"] for c in slack.fake.called("users.info")].count(COR) == 2
    assert await zone_of(slack, COR) == "America/Puerto_Rico"


async def test_a_failed_lookup_leaves_the_team_zone_and_logs_no_ids(
    slack: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fake.fail_next("users.info", "user_not_found")
    await slack.slash(ANNA, "help")  # settles: the lookup after the ack has ended too
    assert [c.args["user"] for c in slack.fake.called("users.info")] == [ANNA]
    store = slack.runtime.store
    team = await store.team_for_channel("slack", TEAM_CHANNEL, now=slack.clock.now())
    member = await store.get_member(team.id, ANNA)
    assert member is not None and member.timezone is None
    assert "users.info failed: user_not_found" in caplog.text


async def test_an_evaluation_nudge_waits_for_the_owners_own_working_morning(
    slack: Workspace,
) -> None:
    await slack.slash(COR, "help")
    await slack.slash(COR, "status")
    assert await zone_of(slack, COR) == "America/Curacao"
    await slack.slash(COR, "traject T-0412 2026-05-25")
    # Due 25 Nov 09:00 in Amsterdam (08:00 UTC) = 04:00 on Curaçao: too early for Cor.
    await slack.wait(timedelta(days=2, minutes=1))  # to 25 Nov 08:01 UTC
    assert slack.posted(dm(COR), "evaluatiemoment") == []
    await slack.wait(timedelta(hours=4, minutes=58))  # 12:59 UTC = 08:59 on Curaçao
    assert slack.posted(dm(COR), "evaluatiemoment") == []
    # Half an hour into Cor's working day (09:00 on Curaçao), like every evaluation nudge.
    await slack.wait(timedelta(minutes=2))
    nudge = slack.last(dm(COR), "Hoe pak je dit evaluatiemoment op?")
    assert slack.clock.now() < datetime(2026, 11, 25, 13, 2, tzinfo=UTC)
    assert "(later bezorgd)" not in str(nudge.args["blocks"])  # on time for Cor
