"""One person's overview across their teams: open questions, what is coming, evaluations due.

A read-only query for a platform's home screen (Slack's App Home): plain dataclasses, no
platform words and no answer text. The composition root binds the store and the flows and
hands the adapter a callable `(user) -> Overview`; the adapter draws it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.core.model import Flow
from bot.core.render import text as render_text
from bot.core.run import Run
from bot.store.evaluations import EvaluationStore
from bot.store.repo import Store

# How far ahead meetings and evaluations are shown; what is further away can wait.
HORIZON = timedelta(days=60)
MAX_ITEMS = 10  # per section


@dataclass(frozen=True, slots=True)
class OpenQuestions:
    """A run that waits for this person's answers."""

    team: str  # the team's name ("" when it has none)
    channel: str  # the team's platform channel
    title: str  # the flow's title in the team's language
    closes_at: datetime | None  # when the answers close, if the step has a deadline


@dataclass(frozen=True, slots=True)
class Upcoming:
    """A registered visit, MDO, meeting or intervision of one of the person's teams."""

    team: str
    channel: str
    kind: str  # visit | mdo | meeting | intervisie
    at: datetime


@dataclass(frozen=True, slots=True)
class EvaluationDue:
    """The next evaluation moment of a trajectory this person registered."""

    team: str
    channel: str
    ref: str  # the trajectory's code (a pseudonym, never a name)
    due: date  # the day it is due (or snoozed to)


@dataclass(frozen=True, slots=True)
class Overview:
    language: str  # of the person's first team ("nl" without a team)
    timezone: str  # the person's own when known, else their first team's
    teams: tuple[str, ...] = ()  # the channels of the person's teams (none: in no team yet)
    open_questions: tuple[OpenQuestions, ...] = ()
    upcoming: tuple[Upcoming, ...] = ()
    evaluations: tuple[EvaluationDue, ...] = ()


async def overview(
    store: Store, flows: Mapping[str, Flow], platform: str, user: str, now: datetime
) -> Overview:
    """What `user` of `platform` has open, and what is coming for their teams."""
    teams = await store.teams_of(platform, user)
    if not teams:
        return Overview(language="nl", timezone="Europe/Amsterdam")
    first = teams[0]
    me = await store.get_member(first.id, user)
    timezone = me.timezone if me is not None and me.timezone else first.timezone
    language = first.language
    questions: list[OpenQuestions] = []
    upcoming: list[Upcoming] = []
    evaluations: list[EvaluationDue] = []
    trajectories: dict[str, tuple[str, str, str]] = {}  # id -> (team name, channel, ref)
    for team in teams:
        name = team.name
        for row in await store.active_runs(team.id):
            run = Run.model_validate(row.state)
            flow = flows.get(run.flow_id)
            state = run.state
            if flow is None or state is None or user not in state.recipients:
                continue
            mine = run.answers.get(run.step or "", {})
            if any(user in by_member for by_member in mine.values()):
                continue
            title = render_text(flow.title, language)
            questions.append(OpenQuestions(name, team.channel, title, state.closes_at))
        for event in await store.events(team.id, after=now):
            if event.at <= now + HORIZON:
                upcoming.append(Upcoming(name, team.channel, event.kind, event.at))
        for trajectory in await store.open_trajectories(team.id, user):
            trajectories[trajectory.id] = (name, team.channel, trajectory.client_ref)
    desk = EvaluationStore(store)
    until = (now + HORIZON).date()
    for trajectory_id, (team_name, channel, ref) in trajectories.items():
        # Only the next open moment of each trajectory (overdue ones included).
        for evaluation in await desk.evaluations(trajectory_id=trajectory_id, status="open"):
            due = evaluation.snoozed_until or evaluation.due_on
            if due <= until:
                evaluations.append(EvaluationDue(team_name, channel, ref, due))
            break
    questions.sort(key=lambda q: (q.closes_at is None, q.closes_at or now))
    upcoming.sort(key=lambda u: u.at)
    evaluations.sort(key=lambda e: e.due)
    return Overview(
        language=language,
        timezone=timezone,
        teams=tuple(t.channel for t in teams),
        open_questions=tuple(questions[:MAX_ITEMS]),
        upcoming=tuple(upcoming[:MAX_ITEMS]),
        evaluations=tuple(evaluations[:MAX_ITEMS]),
    )


__all__ = ["EvaluationDue", "OpenQuestions", "Overview", "Upcoming", "overview"]
