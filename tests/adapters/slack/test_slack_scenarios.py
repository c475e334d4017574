"""Scenarios through the whole runtime and the real Slack adapter (HTTP mode, fake Web API).

Everyone acts by signed requests; everything Samen says reaches the fake Slack through the
outbox, which the fake holds to 1 message/s per channel on the scenario's clock.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from datetime import timedelta
from typing import Any

import pytest

from bot.store import privacy
from tests.harness.slack import TEAM_CHANNEL, Workspace, dm, text_of

ANNA, BRAM, COR = "U0ANNA", "U0BRAM", "U0COR"


async def join(slack: Workspace, *users: str) -> None:
    """Each person uses Samen once in the channel, so the team knows them."""
    for user in users:
        assert await slack.slash(user, "help") == 200


async def test_alignment_before_a_visit_fans_out_chases_and_sums_up_in_the_thread(
    slack: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing anyone answers may reach a log (R-PRV-8): INFO as `samen run` logs, and
    # DEBUG for Samen's own loggers and the Slack libraries.
    caplog.set_level(logging.INFO)
    for name in ("samen", "bot", "adapters", "slack_bolt", "slack_sdk"):
        caplog.set_level(logging.DEBUG, logger=name)
    await join(slack, ANNA, BRAM)
    assert await slack.slash(ANNA, "bezoek 2026-11-24 14:00") == 200
    (planned,) = slack.fake.called("chat.postEphemeral")[-1:]
    assert "Genoteerd" in planned.args["text"] and planned.args["user"] == ANNA

    await slack.wait(timedelta(hours=5, seconds=1))  # 13:00 UTC = 14:00 in Amsterdam
    announcement = slack.last(TEAM_CHANNEL, "samen op bezoek")
    assert "thread_ts" not in announcement.args  # it opens the run's thread
    # Fan-out: each gets the form in a direct message, opened with conversations.open.
    anna_form = slack.last(dm(ANNA), "Hoe zit je erbij")
    slack.last(dm(BRAM), "Hoe zit je erbij")
    assert {c.args["users"] for c in slack.fake.called("conversations.open")} == {ANNA, BRAM}

    # Anna answers: the role by button, the open question in the modal.
    assert await slack.click(ANNA, anna_form, "a|", action_ts=1000.0) == 200  # "leiden"
    assert await slack.open_and_submit(ANNA, anna_form, {"erbij": "Nieuwsgierig"}) == 200
    (modal,) = slack.fake.called("views.open")
    assert modal.args["view"]["private_metadata"].split("|")[2:] == [dm(ANNA), "nl"]

    # She changes her mind: the form she answered in is updated, not posted again.
    posts_to_anna = len(slack.posted(dm(ANNA)))
    updates = len(slack.fake.called("chat.update"))
    support = slack.button(anna_form, "Ondersteunen")
    assert await slack.click(ANNA, anna_form, support["action_id"]) == 200
    assert len(slack.posted(dm(ANNA))) == posts_to_anna
    update = slack.fake.called("chat.update")[-1]
    assert len(slack.fake.called("chat.update")) == updates + 1
    assert (update.args["channel"], update.args["ts"]) == slack.ref(anna_form)
    assert "✓ Ondersteunen" in text_of(update)
    assert "Nieuwsgierig" not in text_of(update)  # free text is never echoed (R-PRV-3)
    assert slack.fake.messages[slack.ref(anna_form)]["text"] == update.args["text"]

    # Bram does not answer: he, and only he, is chased, in his DM (3 h and 1 h before
    # the answers close at 12:00 local time).
    await slack.wait(timedelta(hours=21))  # to 10:00 UTC on the 24th, 11:00 local
    assert len(slack.posted(dm(BRAM), "Herinnering")) == 2
    assert slack.posted(dm(ANNA), "Herinnering") == []
    assert slack.posted(TEAM_CHANNEL, "Herinnering") == []

    # At the deadline (2 h before the visit) the overview goes into the thread.
    await slack.wait(timedelta(hours=1, seconds=1))
    summary = slack.last(TEAM_CHANNEL, "Zo gaan jullie het bezoek in")
    assert summary.args["thread_ts"] == slack.ref(announcement)[1]
    assert "Nieuwsgierig" in text_of(summary)
    assert "Ondersteunen" in text_of(summary)
    # Both forms now show they are closed, in place.
    updated = slack.fake.called("chat.update")
    closed = {c.args["channel"] for c in updated if "Gesloten" in text_of(c)}
    assert closed == {dm(ANNA), dm(BRAM)}
    assert slack.fake.enforced_429s == 0  # the outbox kept to 1 message/s per channel
    assert "Nieuwsgierig" not in caplog.text


def phase(slack: Workspace, says: str) -> Any:
    """The phase message (header and chair controls) of step `says`, in the thread."""
    return slack.last(TEAM_CHANNEL, says)


async def test_the_intervision_by_slash_commands_and_by_buttons(slack: Workspace) -> None:
    await join(slack, ANNA, BRAM, COR)
    assert await slack.slash(ANNA, "rol <@U0ANNA|anna> voorzitter") == 200
    # Slack sends the picked person as <@U0ANNA|anna>; the role lands on her member id.
    # Anna came first: she coordinates the team (issue 19) and, its only coordinator,
    # may take on a flow's role herself; the roles read in the team's language.
    assert slack.fake.called("chat.postEphemeral")[-1].args["text"] == (
        "anna heeft nu de rollen voorzitter en coördinator."
    )
    assert await slack.slash(ANNA, "intervisie 2026-11-27 14:00") == 200
    await slack.wait(timedelta(days=4, hours=5, seconds=1))  # 13:00 UTC on the 27th
    invitation = slack.last(TEAM_CHANNEL, "intervisie")
    thread = slack.ref(invitation)[1]
    step1 = phase(slack, "Stap 1")
    assert step1.args["thread_ts"] == thread
    labels = [e["text"]["text"] for e in slack.elements_of(step1)]
    assert labels[-1] == "🛎 Procesbel (iedereen)" and "⏸ Pauze" in labels

    # --- by slash commands
    await slack.wait(timedelta(minutes=10))
    assert await slack.slash(COR, "pauze", command="/bel") == 200
    refusal = slack.fake.called("chat.postEphemeral")[-1]
    assert refusal.args["user"] == COR and "voorzitter" in refusal.args["text"].lower()
    assert await slack.slash(ANNA, "pauze", command="/bel") == 200
    assert slack.last(TEAM_CHANNEL, "De klok staat stil").args["thread_ts"] == thread
    await slack.wait(timedelta(minutes=7))
    assert await slack.slash(ANNA, "verder", command="/bel") == 200
    assert await slack.slash(ANNA, "+5", command="/bel") == 200
    # 25 min + 7 min paused + 5 min extra: the step ends at 14:37 local.
    assert "14:37" in text_of(slack.last(TEAM_CHANNEL, "erbij"))
    assert await slack.slash(ANNA, "", command="/bel") == 200  # the chair rings by hand
    assert slack.last(TEAM_CHANNEL).args["text"] == "🔔 De bel."
    assert await slack.slash(BRAM, "proces", command="/bel") == 200
    assert slack.last(TEAM_CHANNEL, "Procesbel").args["thread_ts"] == thread
    await slack.wait(timedelta(minutes=15))  # 14:32: five minutes left
    assert slack.posted(TEAM_CHANNEL, "Nog 5 minuten")
    await slack.wait(timedelta(minutes=5, seconds=1))
    assert slack.posted(TEAM_CHANNEL, "De tijd is om")
    step2 = phase(slack, "Stap 2")

    # --- by buttons on the phase message
    assert await slack.click(COR, step2, "b|pause") == 200  # not the chair: refused
    assert slack.fake.called("chat.postEphemeral")[-1].args["user"] == COR
    assert await slack.click(ANNA, step2, "b|pause") == 200
    paused = slack.last(TEAM_CHANNEL)
    assert "De klok staat stil" in paused.args["text"]
    # The header has no resume button; the "paused" message offers it.
    assert [e["text"]["text"] for e in slack.elements_of(paused)] == ["▶ Verder", "➕ 5 min"]
    assert await slack.click(ANNA, paused, "b|resume") == 200
    assert "De klok loopt weer" in slack.last(TEAM_CHANNEL).args["text"]
    assert await slack.click(ANNA, step2, "b|extend") == 200
    assert slack.last(TEAM_CHANNEL, "5 minuten erbij")
    assert await slack.click(BRAM, step2, "b|process") == 200
    assert len(slack.posted(TEAM_CHANNEL, "Procesbel —")) == 2
    assert await slack.click(ANNA, step2, "b|next") == 200
    step3 = phase(slack, "Stap 3")
    assert step3.args["thread_ts"] == thread
    assert slack.fake.enforced_429s == 0

    # A double click on "⏭ Volgende" is one click: step 3 ends, step 4 begins, no more.
    for n in range(2):
        assert await slack.click(ANNA, step3, "b|next", action_ts=5000.0 + n * 0.4) == 200
    assert slack.posted(TEAM_CHANNEL, "Stap 4")
    assert slack.posted(TEAM_CHANNEL, "Stap 5") == []
    # Two clicks seconds apart are two clicks.
    step4 = phase(slack, "Stap 4")
    await slack.click(ANNA, step4, "b|process", action_ts=6000.0)
    await slack.click(ANNA, step4, "b|process", action_ts=6003.0)
    assert len(slack.posted(TEAM_CHANNEL, "Procesbel —")) == 4
    # The stop button (behind Slack's confirm dialog) ends the meeting for everyone.
    assert slack.element(step4, "b|stop")["confirm"]["confirm"]["text"] == "Stoppen"
    assert await slack.click(ANNA, step4, "b|stop") == 200
    assert "is beëindigd" in slack.last(TEAM_CHANNEL).args["text"]
    assert slack.fake.enforced_429s == 0


async def test_an_evaluation_due_nudges_the_clinician_in_a_dm(slack: Workspace) -> None:
    await join(slack, COR)
    assert await slack.slash(COR, "traject T-0412 2026-05-25") == 200
    assert "T-0412" in slack.fake.called("chat.postEphemeral")[-1].args["text"]
    # Six months after the start, on a working day within working hours.
    await slack.wait(timedelta(days=2, hours=2))
    assert "Evaluatiemoment voor traject T-0412 (gestart 25 mei 2026" in text_of(
        slack.last(dm(COR), "T-0412")
    )
    nudge = slack.last(dm(COR), "Hoe pak je dit evaluatiemoment op?")
    mdo = slack.button(nudge, "De vervolgvraag op de MDO-agenda zetten")
    assert await slack.click(COR, nudge, mdo["action_id"]) == 200
    assert "✓ De vervolgvraag op de MDO-agenda zetten" in text_of(
        slack.fake.called("chat.update")[-1]
    )
    assert slack.posted(TEAM_CHANNEL) == []  # a trajectory is one clinician's business


async def test_an_english_team_gets_english_button_words(slack: Workspace) -> None:
    await join(slack, ANNA, BRAM)
    assert await slack.slash(ANNA, "taal en") == 200
    assert await slack.slash(ANNA, "start voorbereiding") == 200
    form = slack.last(dm(BRAM), "How are you coming into this?")
    labels = [e["text"]["text"] for e in slack.elements_of(form)]
    assert "Skip" in labels and "Answer" in labels
    assert "Overslaan" not in labels and "Beantwoorden" not in labels
    assert await slack.click(BRAM, form, "m|") == 200
    for _ in range(500):
        if slack.fake.called("views.open"):
            break
        await asyncio.sleep(0.005)
    view = slack.fake.called("views.open")[-1].args["view"]
    assert (view["submit"]["text"], view["close"]["text"]) == ("Submit", "Cancel")


async def test_a_rate_limited_post_is_sent_once_after_retry_after(slack: Workspace) -> None:
    await join(slack, ANNA, BRAM)
    slack.fake.rate_limit_next("chat.postMessage", retry_after=3)
    before = slack.clock.now()
    assert await slack.slash(ANNA, "start voorbereiding") == 200
    refused = [c for c in slack.fake.called("chat.postMessage") if c.response is None]
    assert len(refused) == 1  # the injected 429
    # The refused message went out once, after the wait Slack asked for, and nothing
    # was lost or doubled.
    channel = refused[0].args["channel"]
    again = [c for c in slack.posted(channel) if c.args["text"] == refused[0].args["text"]]
    assert len(again) == 1
    assert slack.clock.now() - before >= timedelta(seconds=3)
    assert len(slack.posted(dm(ANNA), "Hoe zit je erbij")) == 1
    assert len(slack.posted(dm(BRAM), "Hoe zit je erbij")) == 1
    assert len(slack.posted(TEAM_CHANNEL, "samen op bezoek")) == 1
    status = slack.runtime.outbox.status()["slack"]
    assert status["retried"] == 1 and status["failed"] == 0 and status["last_429"]
    assert slack.fake.enforced_429s == 0


async def test_forget_deletes_what_samen_sent_the_person_and_nothing_else(
    slack: Workspace,
) -> None:
    """`samen forget` queues a delete per delivered message; the running outbox calls
    chat.delete and then leaves no row that names her chat."""
    await join(slack, ANNA, BRAM)
    assert await slack.slash(ANNA, "start voorbereiding") == 200
    slack.last(dm(ANNA), "Hoe zit je erbij")
    bram_form = slack.last(dm(BRAM), "Hoe zit je erbij")
    hers = {slack.ref(c) for c in slack.posted(dm(ANNA))}
    store = slack.runtime.store
    result = await privacy.forget(store, ANNA, actor="admin:test", now=slack.clock.now())
    assert result.deletions_queued == len(hers) >= 1
    assert await delete_rows(slack) == len(hers)
    assert hers <= set(slack.fake.messages)  # nothing deleted before the outbox runs

    await slack.settle()
    deleted = {(c.args["channel"], c.args["ts"]) for c in slack.fake.called("chat.delete")}
    assert deleted == hers and set(slack.fake.deleted) == hers
    assert not hers & set(slack.fake.messages)
    assert slack.ref(bram_form) in slack.fake.messages
    assert await delete_rows(slack) == 0
    with sqlite3.connect(store.engine.url.database) as db:
        where = db.execute("select destination, coalesce(platform_ref, '') from outbox").fetchall()
    assert where and not any(dm(ANNA) in r or ANNA in d for d, r in where)


async def delete_rows(slack: Workspace) -> int:
    with sqlite3.connect(slack.runtime.store.engine.url.database) as db:
        return int(db.execute("select count(*) from outbox where op = 'delete'").fetchone()[0])


# --------------------------------------------------------------------------- integrity


async def inbox_rows(slack: Workspace) -> list[tuple[str, str]]:
    with sqlite3.connect(slack.runtime.store.engine.url.database) as db:
        return [tuple(r) for r in db.execute("select platform, event_key from inbox")]


async def test_one_event_delivered_four_times_is_one_step(slack: Workspace) -> None:
    mention = {
        "type": "app_mention",
        "user": ANNA,
        "text": "<@UBOT> hulp",
        "ts": "1700000000.000100",
        "channel": TEAM_CHANNEL,
        "event_ts": "1700000000.000100",
    }
    body = slack.event_body(mention, "Ev0MENTION1")
    for attempt in range(4):
        retry = {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"}
        status, _ = await slack.post(body, "application/json", headers=retry if attempt else None)
        assert status == 200
    await slack.settle()
    assert await inbox_rows(slack) == [("slack", "ev:Ev0MENTION1")]
    (help_reply,) = slack.fake.called("chat.postEphemeral")
    assert help_reply.args["user"] == ANNA and "/samen" in help_reply.args["text"]


async def test_an_event_without_a_name_keeps_the_name_we_know(slack: Workspace) -> None:
    """Slack's events name no one; a click does. Neither may rename a person to their id
    (and write a member row for every event)."""
    store = slack.runtime.store
    team = await store.team_for_channel("slack", TEAM_CHANNEL, now=slack.clock.now())
    await store.upsert_member(team.id, ANNA, "Anna de Vries", now=slack.clock.now())
    mention = {"type": "app_mention", "user": ANNA, "text": "<@UBOT> hulp"}
    newcomer = {"type": "app_mention", "user": "U0NEW", "text": "<@UBOT> hulp"}
    for n, event in enumerate((mention, newcomer)):
        event |= {"channel": TEAM_CHANNEL, "ts": f"1700000000.00010{n}"}
        status, _ = await slack.post(slack.event_body(event, f"Ev0NAME{n}"), "application/json")
        assert status == 200
    await slack.settle()
    assert (await store.get_member(team.id, ANNA)).name == "Anna de Vries"  # type: ignore[union-attr]
    assert (await store.get_member(team.id, "U0NEW")).name == "U0NEW"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("secret", "skew"), [("not-the-signing-secret", 0), (None, -301), (None, 301)]
)
async def test_forged_or_stale_requests_change_nothing(
    slack: Workspace, secret: str | None, skew: int
) -> None:
    await slack.settle()
    calls = len(slack.fake.calls)
    body = slack.slash_body(ANNA, "/samen", "start voorbereiding")
    options: dict[str, Any] = {"timestamp": int(time.time()) + skew}
    if secret is not None:
        options["secret"] = secret
    status, _ = await slack.post(body, **options)
    assert status == 401
    await slack.settle()
    assert await inbox_rows(slack) == []
    assert len(slack.fake.calls) == calls  # no outbound call at all


async def test_a_look_back_waits_for_everyones_part_and_klaar_leaves_the_optional_one(
    slack: Workspace,
) -> None:
    """Issue 20: the look back closed as soon as the required answers were in, taking its
    private optional question away from those who had not reached it."""
    await join(slack, ANNA, BRAM, COR)
    assert await slack.slash(ANNA, "rol <@U0ANNA|anna> voorzitter") == 200
    assert await slack.slash(ANNA, "start terugblik") == 200
    forms = {user: slack.last(dm(user), "aan de tijd") for user in (ANNA, BRAM, COR)}
    for user, form in forms.items():
        assert await slack.click(user, form, slack.button(form, "4")["action_id"]) == 200
        assert await slack.click(user, form, slack.button(form, "Ja")["action_id"]) == 200
    assert slack.posted(TEAM_CHANNEL, "Terugblik") == []  # the private question is still open
    klaar = "✔ Klaar (de rest overslaan)"
    assert (
        await slack.click(BRAM, forms[BRAM], slack.button(forms[BRAM], klaar)["action_id"]) == 200
    )
    assert await slack.open_and_submit(ANNA, forms[ANNA], {"meenemen": "Eerder afronden"}) == 200
    assert slack.posted(TEAM_CHANNEL, "Terugblik") == []  # Cor's part is not done yet
    assert await slack.click(COR, forms[COR], slack.button(forms[COR], klaar)["action_id"]) == 200
    summary = slack.last(TEAM_CHANNEL, "Terugblik")
    assert "Eerder afronden" not in text_of(summary)  # private stays private
