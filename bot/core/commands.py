"""Reading what a person typed after `/bel` into a bell Command, the same on every platform.

Dutch and English words are both understood, so a mixed team needs no settings:
`/bel` rings, `/bel pauze` pauses, `/bel verder` resumes, `/bel +5` extends by five
minutes, `/bel volgende` goes on, `/bel stop` ends, `/bel proces` rings the process bell, and
`/bel time-out` calls a time-out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from bot.core.events import BellCommand, Command

_WORDS: dict[str, BellCommand] = {
    "": BellCommand.ring,
    "ring": BellCommand.ring,
    "bel": BellCommand.ring,
    "pauze": BellCommand.pause,
    "pauzeer": BellCommand.pause,
    "pause": BellCommand.pause,
    "verder": BellCommand.resume,
    "hervat": BellCommand.resume,
    "resume": BellCommand.resume,
    "volgende": BellCommand.next,
    "next": BellCommand.next,
    "skip": BellCommand.next,
    "overslaan": BellCommand.next,
    "stop": BellCommand.stop,
    "einde": BellCommand.stop,
    "end": BellCommand.stop,
    "proces": BellCommand.process,
    "process": BellCommand.process,
    "time-out": BellCommand.time_out,
    "timeout": BellCommand.time_out,
}

_EXTEND = re.compile(r"^\+\s*(\d{1,3})\s*(m|min|minuten|minutes)?$")

MAX_EXTEND_MINUTES = 120


# The `/bel` words each control button of a platform sends (parse_bel understands them).
BELL_ARGS: Final[Mapping[str, str]] = {
    "ring": "",
    "pause": "pauze",
    "resume": "verder",
    "extend": "+5",
    "next": "volgende",
    "stop": "stop",
    "process": "proces",
}


class UnknownBellCommand(ValueError):
    """What was typed is not a bell command; `.words` lists what is understood."""

    def __init__(self, typed: str) -> None:
        super().__init__(typed)
        self.typed = typed
        self.words = ("pauze", "verder", "+5", "volgende", "stop", "proces", "time-out")


def parse_bell(member: str, args: str) -> Command:
    """`parse_bell("anna", "+5")` -> Command("anna", extend, 5). Raises UnknownBellCommand."""
    typed = args.strip().lower()
    m = _EXTEND.match(typed)
    if m:
        minutes = int(m.group(1))
        if not 1 <= minutes <= MAX_EXTEND_MINUTES:
            raise UnknownBellCommand(args)
        return Command(member, BellCommand.extend, minutes)
    command = _WORDS.get(typed)
    if command is None:
        raise UnknownBellCommand(args)
    return Command(member, command)


# --------------------------------------------------------------------------- /samen

_WEEKDAYS = {
    "ma": 1,
    "di": 2,
    "wo": 3,
    "do": 4,
    "vr": 5,
    "za": 6,
    "zo": 7,
    "mon": 1,
    "tue": 2,
    "wed": 3,
    "thu": 4,
    "fri": 5,
    "sat": 6,
    "sun": 7,
}

# Words for the team's event kinds, Dutch and English, as a coordinator would type them.
EVENT_WORDS = {
    "bezoek": "visit",
    "huisbezoek": "visit",
    "visit": "visit",
    "mdo": "mdo",
    "overleg": "meeting",
    "meeting": "meeting",
    "intervisie": "intervisie",
    "intervision": "intervisie",
    "intake": "intake",
}

# English words for the shipped flows' Dutch command words, so that an English team can
# type `/samen start intervision`. A flow's own command word always works too.
FLOW_WORDS_EN = {
    "intervision": "intervisie",
    "handover": "overdracht",
    "warm-handover": "overdracht",
    "split": "splitsing",
    "split-evaluation": "splitsing-evaluatie",
    "look-back": "terugblik",
    "lookback": "terugblik",
    "look-back-visit": "terugblik-bezoek",
    "five-minutes": "vijf-minuten",
    "preparation": "voorbereiding",
    "prepare": "voorbereiding",
    "self-reflection": "zelfreflectie",
    "moment-of-truth": "moment",
}


def english_flow_word(dutch: str) -> str:
    """The English word for a Dutch flow command word (the Dutch word if none)."""
    return next((en for en, nl in FLOW_WORDS_EN.items() if nl == dutch), dutch)


SETTINGS = {
    "taal": "language",
    "language": "language",
    "aanspreekvorm": "address",
    "address": "address",
    "tijdzone": "timezone",
    "timezone": "timezone",
    "werktijden": "hours",
    "hours": "hours",
}


@dataclass(frozen=True, slots=True)
class SamenCommand:
    """`/samen <action> <args...>` split into an action and its arguments.

    action: help | start | plan | role | roles | setting | absent | present | status | open |
    trajectory | session | evaluations | evaluation
    """

    action: str
    args: tuple[str, ...] = ()


class UnknownSamenCommand(ValueError):
    def __init__(self, typed: str) -> None:
        super().__init__(typed)
        self.typed = typed


_ACTIONS = {
    "": "help",
    "help": "help",
    "hulp": "help",
    "?": "help",
    "start": "start",
    "begin": "start",
    "plan": "plan",
    "registreer": "plan",
    "register": "plan",
    "rol": "role",
    "role": "role",
    "rollen": "roles",
    "roles": "roles",
    "afwezig": "absent",
    "absent": "absent",
    "away": "absent",
    "aanwezig": "present",
    "present": "present",
    "back": "present",
    "terug": "present",
    "status": "status",
    "traject": "trajectory",
    "trajectory": "trajectory",
    "sessie": "session",
    "session": "session",
    "evaluaties": "evaluations",
    "evaluations": "evaluations",
    "evaluatie": "evaluation",
    "evaluation": "evaluation",
    "open": "open",
    "vragen": "open",
    "mijn": "open",
    "verzet": "move",
    "verplaats": "move",
    "move": "move",
    "afzeggen": "cancel",
    "annuleer": "cancel",
    "cancel": "cancel",
}


def samen_words() -> frozenset[str]:
    """The actions `/samen` itself understands (help, start, rol, status, ...): a flow's
    command word may not be one of them, or `/samen start status` and `/samen status`
    would be easy to confuse. (The words that plan an event, such as `intervisie`, may
    be: a flow for that event is naturally started by the same word.)"""
    return frozenset(w for w in _ACTIONS if w.isalnum())


def parse_samen(args: str) -> SamenCommand:
    """`parse_samen("start intervisie")` -> SamenCommand("start", ("intervisie",))."""
    words = tuple(args.split())
    head = words[0].lower() if words else ""
    if head in EVENT_WORDS:
        return SamenCommand("plan", (EVENT_WORDS[head], *words[1:]))
    if head in SETTINGS:
        return SamenCommand("setting", (SETTINGS[head], *words[1:]))
    action = _ACTIONS.get(head)
    if action is None:
        raise UnknownSamenCommand(args)
    return SamenCommand(action, words[1:])


def parse_work_hours(text: str) -> tuple[str, str, str]:
    """'ma-vr 08:30-17:30' -> ('1,2,3,4,5', '08:30', '17:30'). Raises ValueError."""
    m = re.match(r"^\s*(\w+)(?:-(\w+))?\s+(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$", text)
    if not m:
        raise ValueError(text)
    first = _weekday(m.group(1))
    last = _weekday(m.group(2)) if m.group(2) else first
    if first is None or last is None or last < first:
        raise ValueError(text)
    start, end = m.group(3).zfill(5), m.group(4).zfill(5)
    if not (_clock_ok(start) and _clock_ok(end)) or end <= start:
        raise ValueError(text)
    return ",".join(str(d) for d in range(first, last + 1)), start, end


def _weekday(word: str) -> int | None:
    w = word.lower()
    return _WEEKDAYS.get(w[:2]) or _WEEKDAYS.get(w[:3])


def _clock_ok(hhmm: str) -> bool:
    h, _, m = hhmm.partition(":")
    return h.isdigit() and m.isdigit() and int(h) < 24 and int(m) < 60
