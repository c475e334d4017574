"""The real runtime on SQLite, driven through the console adapter on a fake clock.

Store, service, scheduler (its firing path, without APScheduler's wall clock), outbox
and the console adapter all run for real; only time is simulated.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.base import Inbound
from adapters.console import ConsoleAdapter
from bot.core.effects import Message, MessageKind, QuestionView
from bot.runtime.delivery import Delivery, DeliveryResult
from bot.store import privacy
from bot.store.sealed import row_identity
from tests.harness.console import Team

ROOT = Path(__file__).resolve().parent.parent.parent


async def test_a_chair_runs_the_intervision_with_the_bell_through_the_real_runtime(
    team: Team,
) -> None:
    await team.type("/als anna", "/samen rol @anna voorzitter")
    await team.type("/als bram", "/samen", "/als cor", "/samen")
    await team.type("/als anna", "/samen intervisie 2026-11-27 14:00")
    assert "Genoteerd" in team.said()
    await team.wait(timedelta(days=4, hours=6, seconds=1))
    assert "Stap 1" in team.said()
    await team.type("/als cor", "/bel pauze")
    assert "alleen voor cor" in team.said()
    await team.type("/als anna", "/bel +5")
    await team.wait(timedelta(minutes=30))
    assert "🔔" in team.said()
    assert "Stap 2" in team.said()


async def test_an_unknown_command_gets_a_friendly_dutch_reply(team: Team) -> None:
    await team.type("/als anna", "/samen vliegen")
    assert "Dat commando ken ik niet" in team.said()
    await team.type("/bel dansen")
    assert "begrijp ik niet" in team.said()


async def test_answers_in_the_console_reach_the_run_and_the_summary(team: Team) -> None:
    await team.type("/als anna", "/samen", "/als bram", "/samen")
    await team.type("/als anna", "/samen bezoek 2026-11-24 14:00")
    assert "begint ma 23 nov 14:00" in team.said()  # one day before the visit
    await team.wait(timedelta(hours=5))
    assert "Hoe zit je erbij" in team.said()
    await team.type(
        "/als anna", "/a 1 Nieuwsgierig", "/a 2 leiden", "/a 3 -", "/a 4 -", "/a 5 Rust"
    )
    await team.type("/als bram", "/a 1 Gespannen", "/a 2 steunen")
    assert "alleen voor bram" in team.said()  # 'steunen' is not an option: a re-prompt
    await team.type("/a 2 ondersteunen", "/a 3 -", "/a 4 -", "/a 5 Tijd")
    assert "Zo gaan jullie het bezoek in" in team.said()
    assert "Nieuwsgierig" in team.said()


async def test_a_step_writes_only_the_answers_it_changed(team: Team) -> None:
    """Each answer is sealed on its own: a step that takes one answer writes that one, and
    leaves the stored ciphertext of every earlier answer as it was."""
    await team.type("/als anna", "/samen", "/als bram", "/samen")
    await team.type("/als anna", "/samen start voorbereiding")
    await team.type("/a 1 Nieuwsgierig", "/a 2 leiden")
    sql = "select step, question, member, value from answers order by question"
    first = team.rows(sql)
    assert len(first) == 2
    await team.type("/a 3 -", "/als bram", "/a 1 Gespannen")
    later = team.rows(sql)
    assert len(later) == 4
    assert set(first) <= set(later)  # anna's first two answers not sealed again
    await team.type("/als anna", "/a 1 Rustig")  # a changed answer is written again
    changed = {row[:3]: row[3] for row in team.rows(sql)}
    assert changed[first[0][:3]] != first[0][3]


async def test_an_answer_acknowledged_before_the_deadline_is_in_the_summary(team: Team) -> None:
    """Under load an answer may still wait in the inbox when the deadline's timer joins
    it there (timers are handled first). It was acknowledged in time, so it counts: the
    deadline waits for it, and the overview holds it."""
    await team.type("/als anna", "/samen", "/als bram", "/samen")
    await team.type("/als anna", "/samen bezoek 2026-11-24 14:00")
    await team.wait(timedelta(hours=5))
    await team.type("/als anna", "/a 1 Nieuwsgierig", "/a 3 -", "/a 4 -")
    await team.type("/als bram", "/a 1 Gespannen", "/a 2 ondersteunen", "/a 3 -", "/a 4 -")
    deadline = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)  # 12:00 in Amsterdam
    await team.wait_until(deadline - timedelta(seconds=1))
    store = team.runtime.store
    team_row = await store.team_for_channel("console", "team", now=team.clock.now())
    (run,) = await store.active_runs(team_row.id)
    answer = {"kind": "answer", "channel": "team", "user": "anna", "run": run.id}
    answer |= {"step": "afstemming", "question": "rol", "value": "leiden"}
    assert await store.inbox_put("console", "acked-in-time", answer, team.clock.now())
    await team.clock.advance_to(deadline + timedelta(seconds=1))
    await team.runtime.scheduler.fire_due()  # the deadline joins the answer in the inbox
    await team.settle()
    overview = team.said().split("Zo gaan jullie het bezoek in")[-1]
    assert "Het gesprek leiden" in overview
    assert "niet opgeslagen" not in team.said()


async def test_a_trajectory_is_registered_by_code_and_its_evaluation_moment_arrives(
    team: Team,
) -> None:
    await team.type("/als cor", "/samen traject Jansen 2026-05-25")
    assert "lijkt op een naam" in team.said()  # R-PRV-1: a code, never a name
    await team.type("/samen traject T-0412 2026-05-25")
    assert "Traject T-0412 staat genoteerd" in team.said()
    await team.type("/samen traject T-0412 2026-05-25")
    assert "al een traject 'T-0412'" in team.said()
    # Six months after the start, on a working day within working hours.
    await team.wait(timedelta(days=2, hours=2))
    said = team.said()
    assert "Evaluatiemoment voor traject T-0412 (gestart 25 mei 2026, 6 maanden)" in said
    assert "[DM cor] Samen: Hoe pak je dit evaluatiemoment op?" in said
    await team.type("/a 1 mdo")
    assert "waarom gaan we verder" in team.said()


async def test_an_answer_given_in_a_private_chat_belongs_to_the_runs_team(team: Team) -> None:
    """Platforms deliver answers from a DM or a modal with the private chat as channel:
    that must not create a team of one, and the re-prompt goes back to the private chat."""
    await team.type("/als anna", "/samen", "/als bram", "/samen")
    await team.type("/als anna", "/samen start voorbereiding")
    store = team.runtime.store
    teams_before = await store.team_for_channel("console", "team", now=team.clock.now())
    run = (await store.active_runs(teams_before.id))[0]
    wrong = Inbound(
        "console",
        "dm-1",
        "answer",
        "D-private-anna",
        "anna",
        {
            "run": run.id,
            "step": "afstemming",
            "question": "rol",
            "value": "dansen",
            "answer_kind": "value",
        },
        user_name="Anna",
    )
    await team.runtime.inbound(wrong)
    await team.settle()
    right = Inbound(
        "console",
        "dm-2",
        "answer",
        "D-private-anna",
        "anna",
        {
            "run": run.id,
            "step": "afstemming",
            "question": "rol",
            "value": "leiden",
            "answer_kind": "value",
        },
        user_name="Anna",
    )
    await team.runtime.inbound(right)
    await team.settle()
    with sqlite3.connect(team.runtime.store.engine.url.database) as db:
        channels = [c for (c,) in db.execute("select channel from teams")]
        answers = db.execute(
            "select value, run_id, step, question, member from answers where question = 'rol'"
        ).fetchall()
        replies = db.execute("select destination from outbox where op = 'reply'").fetchall()
    assert channels == ["team"]
    assert replies[-1] == ("dm:anna",)  # the re-prompt went back to the private chat
    # Sealed at rest (R-PRV-2); the store's keyring opens it.
    ((sealed, *row),) = answers
    assert sealed.startswith("sealed:") and "leiden" not in sealed
    opened = team.runtime.store.keyring.open(
        sealed.removeprefix("sealed:"), "answers.value", row_identity("answers.value", row)
    )
    assert opened == b"leiden"


async def test_the_console_prints_where_a_deleted_message_was_and_drops_its_form() -> None:
    printed: list[str] = []
    console = ConsoleAdapter(out=printed.append)
    question = QuestionView("afstemming", "erbij", "text", "Hoe zit je erbij?")
    form = Message(MessageKind.form, "Vooraf", questions=(question,))
    sent = await console.deliver(Delivery(1, "send", "dm:anna", form, run="r1"))
    console.user = "anna"
    assert console.parse("/a 1 goed") is not None  # the form can be answered
    gone = Delivery(2, "delete", "dm:anna", Message(MessageKind.say, ""), ref=sent.ref)
    assert await console.deliver(gone) == DeliveryResult.sent(ref=sent.ref)
    assert printed[-1] == "[DM anna] (bericht verwijderd)"
    assert console.parse("/a 1 goed") is None  # deleted: nothing left to answer
    assert "geen formulier open" in printed[-1]
    english = ConsoleAdapter(out=printed.append, language="en")
    gone = Delivery(3, "delete", "team", Message(MessageKind.say, ""), ref="m7", language="en")
    await english.deliver(gone)
    assert printed[-1] == "[#team] (message deleted)"


async def test_forget_removes_what_the_console_showed_the_person(team: Team) -> None:
    await team.type("/als anna", "/samen", "/als bram", "/samen")
    await team.type("/als anna", "/samen start voorbereiding")
    to_anna = [line for line in team.printed if line.startswith("[DM anna] Samen:")]
    assert to_anna and "[alleen voor anna]" in team.said()
    mark = len(team.printed)
    result = await privacy.forget(
        team.runtime.store, "anna", actor="admin:test", now=team.clock.now()
    )
    await team.settle()
    removed = [line for line in team.printed[mark:] if line.endswith("(bericht verwijderd)")]
    assert len(removed) == result.deletions_queued > len(to_anna)  # her replies too
    assert removed.count("[DM anna] (bericht verwijderd)") == len(to_anna)
    await team.type("/a 1 Nieuwsgierig")  # still typing as anna: her form is gone
    assert "geen formulier open" in team.printed[-1]
    assert team.rows("select count(*) from outbox where op = 'delete'") == [(0,)]
