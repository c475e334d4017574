"""The console adapter: a local multi-user team chat in the terminal.

One team channel and a direct-message line per person. You type as someone
(`/als anna`), in the team channel or, after `/prive`, in your private chat with Samen
(`/prive /samen open`; `/kanaal <name>` switches to another team's channel; `/verlaat`
leaves it), use the same commands as in Slack and Telegram (`/samen start intervisie`,
`/samen bezoek 2026-11-24 14:00`, `/bel`, `/bel pauze`, `/bel +5`, `/bel volgende`,
`/bel proces`), and answer the questions Samen sent you with `/a <number> <answer>`,
the numbers the form shows (a choice by its number or the start of its word, several
with `/a 2 1, 3` or `/a 2 loyaliteit en overzorg`; `/a 3 -` skips an optional question,
`/a 3 nvt` answers "not applicable", `/a klaar` leaves the optional ones). Each open form
has a letter: `/a` goes to the newest, `/a B2 ja` to form B. Tests drive it with a list
of lines and read what it printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import string
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from babel.dates import format_date

from adapters.base import Inbound, InboundHandler
from bot.core import i18n
from bot.core.effects import Message, QuestionView
from bot.core.hints import DONE_WORDS, typed_word
from bot.runtime.clock import Clock
from bot.runtime.delivery import Delivery, DeliveryResult, Limits
from bot.runtime.replies import say

CHANNEL = "team"


@dataclass
class _OpenForm:
    run: str
    questions: tuple[QuestionView, ...]
    letter: str  # names the form while it is open: `/a B2 ja` answers its question 2


@dataclass
class ConsoleAdapter:
    """Reads lines (stdin by default) and prints what Samen says."""

    out: Callable[[str], None] = print
    lines: AsyncIterator[str] | None = None
    user: str = "anna"
    platform: str = "console"
    limits: Limits = field(default_factory=lambda: Limits(per_chat=(5, 1.0), overall=(50, 1.0)))
    language: str = "nl"
    clock: Clock | None = None  # when set, every line starts with the time (the demo)
    roster: tuple[str, ...] = ()  # people in the team channel from the start
    echo: bool = False  # print what each person types (a scripted demo reads better)
    _forms: dict[str, list[_OpenForm]] = field(default_factory=dict)
    _form_refs: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # member, run, step
    _refs: Iterable[int] = field(default_factory=lambda: itertools.count(1))
    _events: Iterable[int] = field(default_factory=lambda: itertools.count(1))
    # Event keys are unique across restarts: the inbox remembers the last session's keys
    # and would absorb a new `c1` as a duplicate of the old one.
    session: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    channel: str = CHANNEL  # the team channel typed into (`/kanaal`)
    _reader: asyncio.Task[None] | None = None
    _call: asyncio.Future[None] | None = None  # the handler call of the line being read
    _day: str | None = None
    timezone: str = "Europe/Amsterdam"
    done: asyncio.Event = field(default_factory=asyncio.Event)

    # ------------------------------------------------------------------ inbound

    async def start(self, handler: InboundHandler) -> None:
        for user in self.roster:  # like a platform's channel member list
            await handler(
                Inbound(
                    self.platform, f"join:{user}", "joined", CHANNEL, user, user_name=user.title()
                )
            )
        self._reader = asyncio.create_task(self._read(handler))

    async def stop(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()  # it waits for input; a line being stored is shielded
        if self._call is not None:
            with contextlib.suppress(Exception):
                await self._call
        self.done.set()

    async def _read(self, handler: InboundHandler) -> None:
        source = self.lines if self.lines is not None else _stdin_lines()
        async for raw in source:
            inbound = self.parse(raw)
            if inbound is not None:
                self._call = asyncio.ensure_future(handler(inbound))
                await asyncio.shield(self._call)
        self.done.set()

    def parse(self, raw: str) -> Inbound | None:
        """One typed line -> an Inbound for the shell, or None for local commands."""
        line = raw.strip()
        if not line:
            return None
        word, _, rest = line.partition(" ")
        word = word.lower()
        if word in ("/als", "/as"):
            self.user = rest.strip().lower() or self.user
            if not self.echo:
                self.out(f"{self._stamp()}— {self.user}")
            return None
        if word in ("/kanaal", "/channel"):
            self.channel = rest.strip().lower() or CHANNEL
            return None
        channel = self.channel
        if word in ("/prive", "/privé", "/private", "/dm"):
            channel = f"dm:{self.user}"  # the person's private chat with Samen
            line = rest.strip()
            word, _, rest = line.partition(" ")
            word = word.lower()
        if self.echo:
            self.out(f"{self._stamp()}{self.user} › {line}")
        key = f"c{self.session}-{next(iter(self._events))}"
        if word in ("/samen", "/bel"):
            return Inbound(
                self.platform,
                key,
                "command",
                channel,
                self.user,
                {"command": word[1:], "args": rest.strip()},
                user_name=self.user.title(),
            )
        if word in ("/a", "/antwoord", "/answer"):
            return self._answer(key, rest, channel)
        if word in ("/verlaat", "/leave"):  # like leaving a Slack channel or Telegram group
            return Inbound(self.platform, key, "left", channel, self.user)
        if word.startswith("/"):
            return Inbound(
                self.platform,
                key,
                "command",
                channel,
                self.user,
                {"command": word[1:], "args": rest.strip()},
                user_name=self.user.title(),
            )
        self.out(f"{self._stamp()}[#{channel}] {self.user.title()}: {line}")
        return None

    def _answer(self, key: str, rest: str, channel: str = CHANNEL) -> Inbound | None:
        """`/a [letter]<number> <answer>` or `/a [letter] klaar`: the numbers are those the
        form shows; without a letter the answer goes to the newest open form."""
        forms = self._forms.get(self.user, [])
        if not forms:
            self._tell(self._t("console.no_form"))
            return None
        form = forms[-1]
        written = rest.strip()
        named = _NAMED.match(written)
        if named is not None and (
            named.group(2)[:1].isdigit() or typed_word(named.group(2)) in DONE_WORDS
        ):
            letter = named.group(1).upper()
            chosen = next((f for f in forms if f.letter == letter), None)
            if chosen is None:
                known = ", ".join(f.letter for f in forms)
                self._tell(self._t("console.unknown_form", letter=letter, open=known))
                return None
            form, written = chosen, named.group(2).strip()
        if typed_word(written) in DONE_WORDS:
            return self._inbound(key, channel, form.run, form.questions[0].step, "", "", "done")
        number, _, value = written.partition(" ")
        number = number.rstrip(".:")
        if not number.isdigit() or not 1 <= int(number) <= len(form.questions):
            where = self._t("console.which_form", letter=form.letter, last=len(form.questions))
            self._tell(self._t("console.which", form=where))
            return None
        question = form.questions[int(number) - 1]
        # Skip words, "nvt" and lists ("1, 3", "anna en bram") are read by the core.
        return self._inbound(
            key, channel, form.run, question.step, question.id, value.strip(), "value"
        )

    def _inbound(
        self, key: str, channel: str, run: str, step: str, question: str, value: str, kind: str
    ) -> Inbound:
        return Inbound(
            self.platform,
            key,
            "answer",
            channel,
            self.user,
            {"run": run, "step": step, "question": question, "value": value, "answer_kind": kind},
            user_name=self.user.title(),
        )

    def _t(self, key: str, **params: object) -> str:
        return i18n.t(key, self.language, **params)

    def _tell(self, text: str) -> None:
        """A line only the person typing sees (the console's own help)."""
        self.out(f"[{self._t('console.only_for', who=self.user)}] {text}")

    # ------------------------------------------------------------------ outbound

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        # The console hosts one team: its words follow the team's language once it is set.
        self.language = delivery.language
        where = self._where(delivery)
        if delivery.op == "delete":  # `samen forget`: a line where the message was
            self.out(f"{self._stamp()}[{where}] " + say("message_deleted", self.language))
            self._drop_form(delivery.ref)
            return DeliveryResult.sent(ref=delivery.ref)
        message = delivery.message
        edit = self._t("console.edited") if delivery.op == "edit" else ""
        text = message.text.strip()
        if delivery.op == "edit" and message.questions:
            text = self._progress(message)  # a form updated in place: just its state
        self.out(f"{self._stamp()}[{where}]{edit} Samen: " + text.replace("\n", "\n    "))
        for _, args in message.choices:  # buttons elsewhere: here, what to type
            self.out(f"    ↳ /prive /samen {args}")
        if message.questions:
            self._show_form(delivery, message)
            if delivery.op == "edit":
                return DeliveryResult.sent(ref=delivery.ref)
        ref = delivery.ref or f"m{next(iter(self._refs))}"
        if message.questions:
            self._form_refs[ref] = (
                _member(delivery),
                delivery.run or "",
                message.questions[0].step,
            )
        return DeliveryResult.sent(ref=ref)

    def _drop_form(self, ref: str | None) -> None:
        """A deleted form can no longer be answered: it leaves the person's numbering."""
        if ref not in self._form_refs:
            return
        member, run, step = self._form_refs.pop(ref)
        forms = self._forms.get(member, [])
        self._forms[member] = [f for f in forms if (f.run, f.questions[0].step) != (run, step)]

    def _stamp(self) -> str:
        """`HH:MM ` in the team's zone, with a date line whenever the day changes."""
        if self.clock is None:
            return ""
        local = self.clock.now().astimezone(ZoneInfo(self.timezone))
        day = format_date(local, "full", locale=self.language.replace("-", "_"))
        if day != self._day:
            self._day = day
            self.out(f"— {day} —")
        return local.strftime("%H:%M ")

    def _where(self, delivery: Delivery) -> str:
        if delivery.op == "reply":
            return self._t("console.only_for", who=delivery.user or delivery.chat)
        if delivery.chat.startswith("dm:"):
            return f"DM {delivery.chat[3:]}"
        return f"#{delivery.chat}" + (f" › {self._t('console.thread')}" if delivery.thread else "")

    def _show_form(self, delivery: Delivery, message: Message) -> None:
        """Keep the person's open forms, each with its letter (for `/a B2`); show how to
        answer a new one. A form's numbers are its own and stay while it is open."""
        forms = self._forms.setdefault(_member(delivery), [])
        run, step = delivery.run or "", message.questions[0].step
        at = next(
            (i for i, f in enumerate(forms) if f.run == run and f.questions[0].step == step), None
        )
        if message.closed:
            if at is not None:
                del forms[at]
            return
        if at is not None:
            forms[at] = _OpenForm(run, message.questions, forms[at].letter)
            return
        taken = {f.letter for f in forms}
        letter = next(c for c in string.ascii_uppercase if c not in taken)
        forms.append(_OpenForm(run, message.questions, letter))
        lines = [self._t("console.answer")]
        others = [f.letter for f in forms[:-1]]
        if others:
            lines = [
                self._t(
                    "console.answer_named",
                    letter=letter,
                    others=i18n.join(others, self.language),
                    other=others[-1],
                )
            ]
        lines += [
            self._t("console.question", n=n, hint=q.hint)
            for n, q in enumerate(message.questions, 1)
            if q.hint
        ]
        if message.finish:
            lines.append(self._t("console.done"))
        self.out("\n".join("    " + line for line in lines))

    def _progress(self, message: Message) -> str:
        """One line for a form edited in place: which questions have an answer now."""
        if message.closed:
            return self._t("console.closed")
        marks = " ".join(
            f"{n}{'✓' if q.current not in (None, (), '') else '·'}"
            for n, q in enumerate(message.questions, 1)
        )
        return self._t("console.progress", marks=marks)


# A form named by its letter: `B2 ja`, `B 2 ja`, `B klaar`.
_NAMED = re.compile(r"^([A-Za-z])\s*(\d.*|\s\S.*)$", re.DOTALL)


def _member(delivery: Delivery) -> str:
    """The person a message is for: their private chat, or the reply's addressee."""
    return delivery.chat[3:] if delivery.chat.startswith("dm:") else (delivery.user or "")


async def _stdin_lines() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield line
