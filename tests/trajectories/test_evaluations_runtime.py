"""Evaluation cadences through the real runtime on SQLite, on a fake clock (issue #7).

Store, service, scheduler firing path, outbox and the console adapter run for real; only
time is simulated. Over three years the clock crosses six DST changes in Europe/Amsterdam.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.core.cadence import State, WorkingHours
from bot.trajectories.desk import due_for_mdo
from tests.harness.console import Team, console_world

AMS = ZoneInfo("Europe/Amsterdam")
HOURS = WorkingHours("Europe/Amsterdam", frozenset({1, 2, 3, 4, 5}), time(8, 30), time(17, 30))


Start = Callable[[datetime], Awaitable[Team]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """Open the console world at a moment (again, on the same database, for a restart)."""
    async with contextlib.AsyncExitStack() as opened:

        async def open_team(at: datetime) -> Team:
            world = console_world(tmp_path, start=at, between=timedelta(seconds=3))
            return await opened.enter_async_context(world)

        yield open_team


def nudges(
    team: Team, kept: set[tuple[str, datetime, str]] | None = None
) -> list[tuple[str, datetime, str]]:
    """(destination, created at, text) of every evaluation message sent to a person.

    The daily purge removes delivered messages after a week (R-PRV-4): a test that spans
    longer passes `kept` and calls this at least weekly to keep what it has seen."""
    rows = team.rows(
        "select destination, created_at, message, idempotency_key from outbox "
        "where op = 'send' and "
        "(msg_key like 'evaluation:%' or msg_key like 'preface:%') order by id"
    )
    kept = set() if kept is None else kept
    ring = team.runtime.store.keyring  # messages are sealed at rest (R-PRV-2)
    for destination, created, message, key in rows:
        at = datetime.fromisoformat(str(created)).replace(tzinfo=UTC)
        sealed = json.loads(str(message))["sealed"]
        text = ring.open(sealed, "outbox.message", str(key)).decode("utf-8")
        kept.add((str(destination), at, text))  # row ids may be reused after a purge
    return sorted(kept, key=lambda n: n[1])


async def test_three_years_of_evaluations_fall_on_the_calendar_and_in_working_hours(
    start: Start,
) -> None:
    team = await start(datetime(2024, 1, 31, 9, 0, tzinfo=UTC))  # Wednesday
    await team.type("/als carla", "/samen rol @carla coordinator")
    await team.type("/als anna", "/samen traject T-2 2024-01-31")
    assert "Traject T-2 staat genoteerd (gestart 31 jan 2024)" in team.said()
    # Jan 31 + 1 month: a per-trajectory policy with a review after one month.
    await team.type("/samen traject T-2 beleid plan=1 mdo=0 collega=0 elke=12")
    assert "Evaluatiebeleid voor T-2" in team.said()
    assert "29 feb 2024, 31 jan 2025, 31 jan 2026" in team.said()

    await team.wait_until(datetime(2024, 2, 29, 12, 0, tzinfo=UTC))
    first = [n for n in nudges(team) if "T-2" in n[2]]
    assert first and first[0][1].astimezone(AMS).date() == date(2024, 2, 29)
    # Feb 29 + 12 months, registered on the day.
    await team.type("/als bram", "/samen traject T-1 2024-02-29")
    mark = len(team.printed)
    kept: set[tuple[str, datetime, str]] = set()
    while team.clock.now() < datetime(2027, 2, 1, 12, 0, tzinfo=UTC):
        await team.wait(timedelta(days=3))
        nudges(team, kept)

    sent = nudges(team, kept)
    t1 = [n for n in sent if "T-1" in n[2] and n[0] == "dm:bram" and "Evaluatiemoment" in n[2]]
    t1_days = [at.astimezone(AMS).date() for _, at, _ in t1]
    assert t1_days[:4] == [
        date(2024, 8, 29),  # plan review, a Thursday
        date(2025, 2, 28),  # Feb 29 + 12 months: Friday Feb 28
        date(2025, 8, 29),  # at least every 6 months: 18 months
        date(2026, 3, 2),  # Feb 28 2026 is a Saturday: the next working morning
    ]
    assert "1 jaar" in t1[1][2] and "vervolgvraag voor het MDO" in t1[1][2]
    # Every evaluation message of three years went out within working hours, across DST.
    assert len(sent) > 12
    for _destination, at, _text in sent:
        assert HOURS.contains(at), at.astimezone(AMS)
    # Nobody completed anything: overdue reminders went to the owner, and the coordinator
    # heard of it; never a word about discharge.
    said = team.since(mark)
    assert "staat nog open sinds" in said
    assert "[DM carla] Samen: Ter info voor de coördinator" in said
    assert "ontslag" not in said.lower() and "discharge" not in said.lower()


async def test_a_restart_while_an_evaluation_falls_due_waits_for_the_working_morning(
    start: Start, tmp_path: Path
) -> None:
    team = await start(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # Monday
    await team.type("/als anna", "/samen traject T-7 2026-05-25")
    # Due on Wednesday 25 Nov at 09:00; the process stops on Tuesday evening.
    await team.wait_until(datetime(2026, 11, 24, 18, 0, tzinfo=UTC))
    assert nudges(team) == []
    await team.runtime.store.close()

    # It comes back on Wednesday night at 23:00, long after the moment fell due.
    again = await start(datetime(2026, 11, 25, 22, 0, tzinfo=UTC))
    await again.runtime.inbox.drain()
    await again.settle()
    assert nudges(again) == []  # not at night
    notes = again.rows("select note from timers where timer like 'evaluation:%:due'")
    assert any("quiet hours" in str(n) for (n,) in notes)
    await again.wait_until(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    sent = nudges(again)
    assert len([s for s in sent if "Evaluatiemoment" in s[2]]) == 1
    assert sent[0][1] == datetime(2026, 11, 26, 7, 30, tzinfo=UTC)  # 08:30 in Amsterdam
    assert HOURS.contains(sent[0][1])


async def test_a_snooze_needs_a_reason_holds_and_expires(start: Start) -> None:
    team = await start(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    await team.type("/als anna", "/samen traject T-8 2026-05-25")
    await team.wait_until(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    assert "Evaluatiemoment voor traject T-8" in team.said()
    await team.type("/samen evaluatie T-8 uitstel 2w")
    assert "alleen met een reden" in team.said()
    await team.type("/samen evaluatie T-8 uitstel 12w cliënt in het buitenland")
    assert "hooguit 8 weken" in team.said()
    await team.type("/samen evaluatie T-8 uitstel 2w cliënt in het buitenland")
    assert "uitgesteld tot 9 dec 2026 (uitstel 1 van 2)" in team.said()
    mark = len(team.printed)
    await team.wait_until(datetime(2026, 12, 8, 16, 0, tzinfo=UTC))
    assert "T-8" not in team.since(mark)  # snoozed: left in peace
    items = await due_for_mdo(team.runtime.store, *(await _team_and_day(team)))
    assert items == []
    await team.wait_until(datetime(2026, 12, 9, 12, 0, tzinfo=UTC))
    assert "Evaluatiemoment voor traject T-8" in team.since(mark)  # the snooze expired
    items = await due_for_mdo(team.runtime.store, *(await _team_and_day(team)))
    assert [(i.client_ref, i.state) for i in items] == [("T-8", State.due)]


async def _team_and_day(team: Team) -> tuple[str, date]:
    row = await team.runtime.store.team_for_channel("console", "team", now=team.clock.now())
    return row.id, team.clock.now().astimezone(AMS).date()


async def test_done_needs_the_next_date_and_only_the_owner_or_coordinator_closes(
    start: Start,
) -> None:
    team = await start(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    await team.type("/als carla", "/samen rol @carla coordinator")
    await team.type("/als anna", "/samen traject T-9 2025-11-02")  # 12 months ago: due now
    await team.type("/samen evaluaties")
    assert "• T-9 (anna) — vervolgvraag voor het MDO" in team.said()
    await team.type("/als bram", "/samen evaluatie T-9 klaar afsluiten koers afgerond")
    assert "Dit traject is van anna; alleen die (of een coördinator)" in team.said()
    await team.type(
        "/als anna", "/samen evaluatie T-9 klaar doorgaan tot 2027-06-01 koers wekelijks"
    )
    assert "telt pas als het volgende evaluatiemoment is afgesproken" in team.said()
    assert team.rows("select count(*) from evaluations where status = 'done'") == [(0,)]
    await team.type("/samen evaluatie T-9 mdo")
    assert "De evaluatie van T-9 staat op de agenda van het volgende MDO" in team.said()
    tid, day = await _team_and_day(team)
    assert [i.on_agenda for i in await due_for_mdo(team.runtime.store, tid, day)] == [True]
    await team.type(
        "/samen evaluatie T-9 klaar doorgaan tot 2027-06-01 volgende 2027-03-01 koers "
        "wekelijks, netwerk erbij"
    )
    assert (
        "Evaluatie van T-9 afgerond (doorgaan tot 1 jun 2027). Volgende evaluatie: 1 mrt 2027"
        in (team.said())
    )
    done = team.rows(
        "select outcome, next_on, course, done_by, id from evaluations where status='done'"
    )
    [(outcome, next_on, course, done_by, moment)] = done
    assert (outcome, next_on, done_by) == ("continue", "2027-03-01", "anna")
    # The course is free text: sealed at rest (R-PRV-2), readable with the key.
    assert str(course).startswith("sealed:")
    ring = team.runtime.store.keyring
    opened = ring.open(str(course).removeprefix("sealed:"), "evaluations.course", str(moment))
    assert opened.decode("utf-8") == "wekelijks, netwerk erbij"
    nexts = team.rows("select kind, due_on from evaluations where status = 'open' order by due_on")
    assert nexts[0] == ("agreed", "2027-03-01")
    assert await due_for_mdo(team.runtime.store, tid, day) == []
    # The coordinator may close it; the trajectory then stops.
    await team.type("/als carla", "/samen traject T-9 sluit")
    assert "Traject T-9 is afgesloten" in team.said()
    assert team.rows("select count(*) from evaluations where status = 'open'") == [(0,)]
    assert team.rows(
        "select count(*) from timers where timer like 'evaluation:%' and status = 'pending'"
    ) == [(0,)]


async def test_moving_the_start_date_replans_and_sessions_bring_a_process_evaluation(
    start: Start,
) -> None:
    team = await start(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    await team.type("/als anna", "/samen traject T-3 2026-10-01")
    await team.type("/samen traject T-3 start 2026-09-15")
    assert "Startdatum van T-3 is nu 15 sep 2026. Volgende evaluatiemomenten: 15 mrt 2027" in (
        team.said()
    )
    open_rows = team.rows("select due_on from evaluations where status = 'open' order by due_on")
    assert open_rows[0] == ("2027-03-15",)
    dropped = team.rows("select count(*) from evaluations where status = 'dropped'")
    assert dropped[0][0] > 0  # the old plan is kept as history
    await team.type("/samen traject T-3 beleid sessies=3")
    mark = len(team.printed)
    await team.type("/samen sessie T-3", "/samen sessie T-3")
    assert "procesevaluatie" not in team.since(mark)
    await team.type("/als bram", "/samen sessie T-3")
    assert "Sessie 3 van traject T-3 genoteerd. Na 3 sessies is er een procesevaluatie" in (
        team.said()
    )
    await team.wait(timedelta(hours=1))
    assert "procesevaluatie na 3 sessies" in team.said()  # the nudge to anna
    await team.type("/als anna", "/samen traject lijst")
    assert "• T-3 — anna, gestart 15 sep 2026, 3 sessies" in team.said()
    await team.type("/samen sessie Onbekend")
    assert "Dat traject ken ik niet in dit team" in team.said()
    assert "Onbekend" not in team.said()  # a typed word is not repeated (R-PRV-3)


async def test_team_defaults_are_set_by_a_coordinator_and_apply_to_running_trajectories(
    start: Start,
) -> None:
    team = await start(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    await team.type("/als carla", "/samen rol @carla coordinator")
    await team.type("/als anna", "/samen traject T-4 2026-10-01")
    await team.type("/samen traject T-4 beleid mdo=9")  # its own: continuation at 9 months
    await team.type("/samen evaluaties beleid elke=3")
    assert "Alleen een coördinator van dit team kan dit aanpassen." in team.said()
    await team.type("/als carla", "/samen evaluaties beleid elke=3 plan=0")
    assert "Evaluatiebeleid van het team" in team.said()
    open_rows = team.rows(
        "select kind, due_on from evaluations where status = 'open' order by due_on limit 3"
    )
    assert open_rows == [
        ("periodic", "2027-01-01"),
        ("periodic", "2027-04-01"),
        ("continuation", "2027-07-01"),  # the trajectory's own rule stays
    ]
    await team.type("/samen evaluaties beleid elke=0")
    assert "elke moet een getal van 1 tot en met 24 zijn." in team.said()


async def test_each_nudge_carries_the_working_hours_of_the_person_it_is_for(
    start: Start,
) -> None:
    """The outbox holds a nudge whose turn comes after hours (bot/runtime/outbox.py): the
    evaluation moment's preface and the flow's first question carry the team's hours in
    the owner's zone, the overdue reminder too, the escalation those in the coordinator's
    own zone. Other messages carry none."""
    team = await start(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # Monday
    await team.type("/als carla", "/samen rol @carla coordinator")
    await team.type("/samen evaluaties beleid marge=0 escalatie=0")
    await team.runtime.store.set_timezones("console", {"carla": "America/New_York"})
    await team.type("/als anna", "/samen traject T-7 2026-05-25")
    # Due on Wednesday 25 Nov, overdue and escalated on Thursday 26 Nov.
    await team.wait_until(datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
    ring = team.runtime.store.keyring
    carried = {}
    for destination, message, key, msg_key in team.rows(
        "select destination, message, idempotency_key, msg_key from outbox order by id"
    ):
        sealed = json.loads(str(message))["sealed"]
        opened = json.loads(ring.open(sealed, "outbox.message", str(key)))
        what = str(msg_key).split(":")[2] if str(msg_key).startswith("evaluation:") else msg_key
        carried[str(what).split(":")[0], str(destination)] = opened.get("hours")
    new_york = WorkingHours("America/New_York", HOURS.days, HOURS.start, HOURS.end)
    assert carried == {
        ("", "team"): None,
        ("preface", "dm:anna"): HOURS.to_json(),
        ("form", "dm:anna"): HOURS.to_json(),
        ("overdue", "dm:anna"): HOURS.to_json(),
        ("escalate", "dm:carla"): new_york.to_json(),
    }
