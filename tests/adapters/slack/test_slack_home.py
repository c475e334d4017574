"""The App Home tab through the runtime: app_home_opened -> views.publish of one person's
overview (bot/overview.py reads the store; adapters/slack/home.py draws it)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from adapters.slack.home import render_home
from bot.teams.overview import EvaluationDue, OpenQuestions, Overview, Upcoming
from tests.harness.fake_slack import Call
from tests.harness.slack import Workspace

ANNA, BRAM, COR = "U0ANNA", "U0BRAM", "U0COR"


async def open_home(slack: Workspace, user: str, tab: str = "home", n: int = 1) -> Call | None:
    """Send a signed app_home_opened event; the view published for it (None: none)."""
    before = len(slack.fake.called("views.publish"))
    event = {
        "type": "app_home_opened",
        "user": user,
        "channel": "D" + user.lstrip("U"),
        "tab": tab,
        "event_ts": "1700000000.000300",
    }
    status, _ = await slack.post(slack.event_body(event, f"EvHOME{user}{n}"), "application/json")
    assert status == 200
    for _ in range(400):  # views.publish runs just after the ack; bounded wait
        if len(slack.fake.called("views.publish")) > before:
            return slack.fake.called("views.publish")[-1]
        await asyncio.sleep(0.005)
    return None


def shown(call: Call) -> str:
    return json.dumps(call.args["view"]["blocks"], ensure_ascii=False)


async def test_the_home_tab_shows_open_questions_meetings_and_evaluations(
    slack: Workspace,
) -> None:
    for user in (ANNA, BRAM):
        await slack.slash(user, "help")
    await slack.slash(ANNA, "bezoek 2026-11-26 10:00")
    await slack.slash(ANNA, "start voorbereiding")
    await slack.slash(ANNA, "traject T-0412 2026-05-25")
    published = await open_home(slack, ANNA)
    assert published is not None
    assert published.args["user_id"] == ANNA
    view = published.args["view"]
    assert view["type"] == "home"
    text = shown(published)
    assert "Jouw open vragen" in text
    # The team by its channel's name, which slash commands now tell (issue 19).
    assert "Afstemmen voor het huisbezoek — wijkteam-oost" in text
    assert "Huisbezoek" in text and "do 26 nov 10:00" in text
    assert "Traject T-0412" in text and "wo 25 nov" in text  # six months after the start
    assert "Nieuwsgierig" not in text

    # Once Anna has answered, her questions are no longer open; Bram's still are.
    form = slack.last("D0ANNA", "Hoe zit je erbij")
    await slack.click(ANNA, form, "a|")
    await slack.open_and_submit(ANNA, form, {"erbij": "Nieuwsgierig"})
    again = await open_home(slack, ANNA, n=2)
    assert again is not None
    assert "Er wacht niets op een antwoord van jou." in shown(again)
    bram = await open_home(slack, BRAM)
    assert bram is not None
    assert "Afstemmen voor het huisbezoek" in shown(bram)
    assert "T-0412" not in shown(bram)  # a trajectory shows only to who registered it


async def test_the_home_tab_uses_the_persons_own_time_zone_and_the_team_language(
    slack: Workspace,
) -> None:
    await slack.slash(ANNA, "help")
    await slack.slash(ANNA, "taal en")
    await slack.slash(ANNA, "bezoek 2026-11-26 10:00")
    await slack.runtime.store.set_timezones("slack", {ANNA: "America/Curacao"})
    published = await open_home(slack, ANNA)
    assert published is not None
    text = shown(published)
    assert "Coming up" in text and "Home visit" in text
    assert "Thu 26 Nov 05:00" in text  # 10:00 in Amsterdam is 05:00 on Curaçao


async def test_someone_in_no_team_is_told_how_to_join_and_other_tabs_publish_nothing(
    slack: Workspace,
) -> None:
    published = await open_home(slack, COR)
    assert published is not None
    assert "Typ /samen in het kanaal van je team" in shown(published)
    assert await open_home(slack, COR, tab="messages", n=2) is None


def test_the_home_view_stays_within_slacks_limits_and_escapes_text() -> None:
    at = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    many = Overview(
        language="nl",
        timezone="Europe/Amsterdam",
        teams=("C1",),
        open_questions=tuple(OpenQuestions("A & B <team>", "C1", "Flow", at) for _ in range(10)),
        upcoming=tuple(Upcoming("", "C1", "mdo", at) for _ in range(10)),
        evaluations=tuple(EvaluationDue("", "C1", "T-1", at) for _ in range(10)),
    )
    view: dict[str, Any] = render_home(many)
    assert len(view["blocks"]) <= 100
    text = json.dumps(view, ensure_ascii=False)
    assert "A &amp; B &lt;team&gt;" in text
    assert all(len(json.dumps(b)) < 3500 for b in view["blocks"])
