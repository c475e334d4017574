"""The App Home tab: one person's `Overview` as a Block Kit home view. Pure, no I/O.

Dates are shown in the person's own time zone (the overview carries it), words in their
team's language. Nothing here names a client: trajectories show their code only.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

from adapters.base import in_language
from adapters.slack.render import MAX_BLOCKS, escape
from bot.teams.overview import Overview

_WORDS: Final[dict[str, dict[str, str]]] = {
    "nl": {
        "title": "Samen",
        "open": "Jouw open vragen",
        "open_none": "Er wacht niets op een antwoord van jou.",
        "closes": "sluit {when}",
        "upcoming": "Binnenkort",
        "upcoming_none": "Geen bezoeken of overleggen gepland.",
        "evaluations": "Evaluatiemomenten",
        "evaluations_none": "Geen evaluatiemomenten op komst.",
        "trajectory": "Traject {ref}",
        "no_team": "Je zit nog in geen team. Typ /samen in het kanaal van je team om mee te doen.",
        "footer": "Je beantwoordt vragen in je berichten van Samen. /samen hulp toont alle "
        "commando's.",
        "visit": "Huisbezoek",
        "mdo": "MDO",
        "meeting": "Overleg",
        "intervisie": "Intervisie",
    },
    "en": {
        "title": "Samen",
        "open": "Your open questions",
        "open_none": "Nothing is waiting for your answer.",
        "closes": "closes {when}",
        "upcoming": "Coming up",
        "upcoming_none": "No visits or meetings planned.",
        "evaluations": "Evaluation moments",
        "evaluations_none": "No evaluation moments coming up.",
        "trajectory": "Trajectory {ref}",
        "no_team": "You are not in a team yet. Type /samen in your team's channel to join.",
        "footer": "You answer questions in your messages from Samen. /samen help lists every "
        "command.",
        "visit": "Home visit",
        "mdo": "MDO",
        "meeting": "Meeting",
        "intervisie": "Intervision",
    },
}


_KINDS: Final = frozenset({"visit", "mdo", "meeting", "intervisie"})


def _word(key: str, language: str) -> str:
    return in_language(_WORDS, key, language)


def _when(moment: datetime, overview: Overview) -> str:
    local = moment.astimezone(ZoneInfo(overview.timezone))
    locale = overview.language.replace("-", "_")
    return format_datetime(local, "EEE d MMM HH:mm", locale=locale)


def _day(day: date, overview: Overview) -> str:
    return format_date(day, "EEE d MMM", locale=overview.language.replace("-", "_"))


def _team(name: str, channel: str) -> str:
    """The team by its name, else as a channel link (Slack shows the channel's name)."""
    return escape(name) if name else f"<#{channel}>"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _list(heading: str, lines: list[str], none: str) -> list[dict[str, Any]]:
    body = "\n".join(f"• {line}" for line in lines) if lines else f"_{escape(none)}_"
    return [_section(f"*{escape(heading)}*\n{body}")]


def render_home(overview: Overview) -> dict[str, Any]:
    """The `home` view for views.publish."""
    lang = overview.language
    if not overview.teams:
        return render_no_team(lang)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _word("title", lang)}}
    ]
    questions = []
    for q in overview.open_questions:
        line = f"{escape(q.title)} — {_team(q.team, q.channel)}"
        if q.closes_at is not None:
            line += ", " + _word("closes", lang).format(when=_when(q.closes_at, overview))
        questions.append(line)
    upcoming = [
        f"{escape(_word(u.kind, lang) if u.kind in _KINDS else u.kind)} — "
        f"{_team(u.team, u.channel)}, {_when(u.at, overview)}"
        for u in overview.upcoming
    ]
    evaluations = [
        f"{escape(_word('trajectory', lang).format(ref=e.ref))} — {_team(e.team, e.channel)}, "
        f"{_day(e.due, overview)}"
        for e in overview.evaluations
    ]
    blocks += _list(_word("open", lang), questions, _word("open_none", lang))
    blocks.append({"type": "divider"})
    blocks += _list(_word("upcoming", lang), upcoming, _word("upcoming_none", lang))
    blocks.append({"type": "divider"})
    blocks += _list(_word("evaluations", lang), evaluations, _word("evaluations_none", lang))
    footer = _word("footer", lang)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(footer)}]})
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS]}


def render_no_team(language: str = "nl") -> dict[str, Any]:
    """The home view for someone who is in no team yet."""
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _word("title", language)}},
            _section(escape(_word("no_team", language))),
        ],
    }
