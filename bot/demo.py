"""`samen demo`: a scripted team conversation played through the real runtime.

Store (a fresh SQLite file), inbox, runs, scheduler, outbox and the console adapter all run
for real; only the clock is simulated. It jumps from one due timer to the next, and
`speed` paces the jumps in real time (a simulated day takes 86400 / speed seconds), so
the three days of the story take seconds.

The story: three co-workers align before a joint visit (one answers late and is chased),
the chair picks the presenter and runs the intervision with warnings and bells (pauses
for a phone call, extends one step, moves on early; a member rings the process bell), the
look back starts when the meeting ends, and a clinician gets the evaluation moment of a
(pseudonymous) treatment six months after its start, which the chair sees on the MDO
agenda. Answers vary as people give them: numbers, words, the start of a word, skips.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.flowfiles import SHIPPED_FLOWS_DIR
from bot.runtime.clock import FakeClock
from bot.wiring import Runtime, build_runtime, console_adapter

TZ = ZoneInfo("Europe/Amsterdam")
START = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)  # a Monday morning
DEFAULT_SPEED = 20_000.0  # about 15 s for the whole story
MAX_PAUSE = 1.5  # real seconds; long quiet stretches are not worth waiting for

_TEXT = {
    "nl": {
        "visit": "1. Afstemmen voor een gezamenlijk huisbezoek",
        "intervision": "2. De intervisie met de bel",
        "reflection": "3. De terugblik begint als de bijeenkomst eindigt",
        "evaluation": "4. Een evaluatiemoment voor een behandeltraject",
        "a": {
            "anna": ["Nieuwsgierig, goed uitgerust", "1", "-", "-"],
            "bram": [
                "Wat gespannen na vorige keer",
                "ondersteunen",
                "Een herhaling van de ruzie",
                "overslaan",
            ],
            "cor": ["Rustig", "vooral"],
        },
        "need": {
            "anna": "Dat jij het netwerk in de gaten houdt",
            "bram": "Een teken als ik te lang praat",
            "cor": "Een korte nabespreking",
        },
        # Each prepares a case of their own: a choice by number, by word or by its start.
        "prep": {
            "anna": ["Angst en paniek, gestart in 2022", "2", "-", "De cliënt wil niet stoppen"],
            "bram": [
                "Somberheid, gestart in 2023",
                "langer",
                "Afbouwen van de frequentie",
                "Angst voor terugval",
            ],
            "cor": ["Eetproblemen, sinds 2021", "twee", "-", "Weinig steun thuis"],
        },
        "themes": {"bram": "loyaliteit; overzorg", "cor": "2"},
        "take_away": "Het einde eerder noemen",
        "insight": {
            "bram": "Eerder het einde ter sprake brengen",
            "cor": "Na een jaar een collega laten meekijken",
        },
    },
    "en": {
        "visit": "1. Aligning before a joint home visit",
        "intervision": "2. The intervision with the bell",
        "reflection": "3. The look back starts when the meeting ends",
        "evaluation": "4. An evaluation moment for a treatment",
        "a": {
            "anna": ["Curious, well rested", "1", "-", "-"],
            "bram": [
                "A bit tense after last time",
                "support",
                "The argument happening again",
                "skip",
            ],
            "cor": ["Calm", "mainly"],
        },
        "need": {
            "anna": "That you keep an eye on the network",
            "bram": "A sign when I talk too long",
            "cor": "A short debrief afterwards",
        },
        "prep": {
            "anna": ["Anxiety and panic, started in 2022", "2", "-", "The client will not stop"],
            "bram": [
                "Low mood, started in 2023",
                "3",
                "Fewer sessions",
                "Fear of relapse",
            ],
            "cor": ["Eating problems, since 2021", "two", "-", "Little support at home"],
        },
        "themes": {"bram": "loyalty; over", "cor": "2"},
        "take_away": "Name the ending sooner",
        "insight": {
            "bram": "Bring up the ending earlier",
            "cor": "Ask a colleague to look along after a year",
        },
    },
}


async def _no_input() -> AsyncIterator[str]:
    """The demo types its own script; the console must not wait for a keyboard."""
    return
    yield  # pragma: no cover - makes this an (empty) async generator


class _Director:
    """Types the script into the console and moves the clock from timer to timer."""

    def __init__(self, runtime: Runtime, console: Any, clock: FakeClock, speed: float) -> None:
        self.runtime, self.console, self.clock, self.speed = runtime, console, clock, speed

    async def type(self, who: str, *lines: str) -> None:
        for line in (f"/als {who}", *lines):
            inbound = self.console.parse(line)
            if inbound is not None:
                await self.runtime.inbound(inbound)
            await self.settle()

    async def settle(self) -> None:
        """Let everything that is due now happen: events, timers, deliveries. When the
        outbox holds messages back for a rate limit, let those seconds pass too."""
        for _ in range(200):
            await self.runtime.inbox.drain()
            await self.runtime.scheduler.fire_due()
            await self.runtime.inbox.drain()
            wake = await self.runtime.outbox.pump()
            await self.runtime.outbox.flush()
            now = self.clock.now()
            waiting = await self.runtime.store.outbox_due(now, limit=1)
            if not waiting and not await self.runtime.store.inbox_pending(limit=1):
                return
            if waiting and wake is not None and wake > now:
                await self.clock.advance_to(min(wake, now + timedelta(seconds=5)))

    async def until(self, moment: datetime) -> None:
        """Move the clock to `moment`, stopping at every timer that falls due on the way."""
        while self.clock.now() < moment:
            due = await self.runtime.store.next_due()
            now = self.clock.now()
            target = min(due, moment) if due is not None and due > now else moment
            await asyncio.sleep(min((target - now).total_seconds() / self.speed, MAX_PAUSE))
            await self.clock.advance_to(target)
            await self.settle()

    async def wait(self, span: timedelta) -> None:
        await self.until(self.clock.now() + span)


async def play(
    language: str = "nl",
    data_dir: Path | None = None,
    speed: float = DEFAULT_SPEED,
    out: Callable[[str], None] = print,
    flows_dir: Path | None = None,
) -> Runtime:
    """Play the story; print the transcript through `out`. Returns the stopped runtime
    (its store closed) so callers can inspect `data_dir` afterwards."""
    text = _TEXT.get(language, _TEXT["nl"])
    clock = FakeClock(START)
    console = console_adapter(
        out=out,
        clock=clock,
        language=language,
        roster=("anna", "bram", "cor"),
        echo=True,
        lines=_no_input(),
    )
    # The shipped library (and `flows_dir` beside it, for tests): the story is written for it.
    settings = Settings(
        data_dir=data_dir or Path(".samen-demo"), flows_dir=flows_dir or SHIPPED_FLOWS_DIR
    )
    runtime = await build_runtime(settings, clock=clock, adapters=[console], use_apscheduler=False)
    director = _Director(runtime, console, clock, speed)
    await runtime.inbox.drain()
    try:
        await console.start(runtime.inbound)
        await director.settle()
        await _story(director, text, language)
    finally:
        await console.stop()
        await runtime.store.close()
    return runtime


async def _story(d: _Director, text: dict, language: str) -> None:  # type: ignore[type-arg]
    out = d.console.out
    out(text["visit"])
    if language != "nl":
        await d.type("anna", "/samen taal en")
    await d.type("anna", "/samen rol @anna voorzitter")
    await d.type("cor", "/samen traject T-0412 2026-05-27")  # six months on Friday
    await d.type("anna", "/samen bezoek 2026-11-23 15:00")
    for who in ("anna", "bram"):
        await d.type(who, *(f"/a {n} {v}" for n, v in enumerate(text["a"][who], 1)))
    await d.until(START.replace(hour=12, minute=5))  # Cor is reminded; the others are not
    await d.type("cor", *(f"/a {n} {v}" for n, v in enumerate(text["a"]["cor"], 1)))
    await d.type("cor", "/a klaar" if language.startswith("nl") else "/a done")
    for who in ("anna", "bram", "cor"):  # the round: each in turn, shared in the thread
        await d.wait(timedelta(minutes=3))
        await d.type(who, f"/a 1 {text['need'][who]}")
    await d.until(START.replace(hour=14, minute=35))  # the private check-in before leaving
    await d.type("bram", "/a 1 3")
    await d.until(START.replace(hour=15, minute=5))

    out("")
    out(text["intervision"])
    await d.type("anna", "/samen intervisie 2026-11-26 13:00")
    for who in ("anna", "bram", "cor"):
        await d.type(who, *(f"/a {n} {v}" for n, v in enumerate(text["prep"][who], 1)))
    await d.type("anna", "/a 1 2")  # the chair picks the presenter by number: Bram
    meeting = datetime(2026, 11, 26, 13, 0, tzinfo=TZ)
    await d.until(meeting + timedelta(minutes=26))
    for who, themes in text["themes"].items():
        await d.type(who, f"/a 1 {themes}")
    await d.until(meeting + timedelta(minutes=30))
    await d.type("anna", "/bel pauze")  # a phone call: the clock stands still
    await d.wait(timedelta(minutes=3))
    await d.type("anna", "/bel verder")
    await d.until(meeting + timedelta(minutes=42))
    await d.type("anna", "/bel +5")
    await d.until(meeting + timedelta(minutes=55))
    await d.type("cor", "/bel proces")
    await d.type("bram", "/a 1 medewerker")
    await d.type("cor", "/a 1 org")
    await d.until(meeting + timedelta(minutes=85))
    await d.type("anna", "/bel volgende")  # enough options explored: on to the last step
    await d.wait(timedelta(minutes=4))
    for who in ("bram", "cor"):
        await d.type(who, f"/a 1 {text['insight'][who]}")
    await d.wait(timedelta(minutes=7))

    out("")
    out(text["reflection"])
    # Varied answers: a number, a word, a label's start; the private question answered,
    # skipped, or left with "klaar".
    done = "/a klaar" if language.startswith("nl") else "/a done"
    await d.type("anna", "/a 1 4", "/a 2 ja", f"/a 3 {text['take_away']}")
    await d.type("bram", "/a 1 3", "/a 2 nee", "/a 3 -")
    await d.type("cor", "/a 2 j", "/a 1 2", done)
    await d.wait(timedelta(minutes=5))

    out("")
    out(text["evaluation"])
    await d.until(datetime(2026, 11, 27, 9, 5, tzinfo=TZ))
    await d.type("anna", "/samen evaluaties")  # the chair prepares the MDO agenda
    await d.until(datetime(2026, 11, 27, 9, 10, tzinfo=TZ))
    await d.type("cor", "/a 1 mdo")
    await d.wait(timedelta(minutes=5))
