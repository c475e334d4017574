"""Reading `/bel ...` into a bell command, in Dutch and English."""

from __future__ import annotations

import pytest

from bot.core.commands import UnknownBellCommand, parse_bell, parse_samen
from bot.core.events import BellCommand


@pytest.mark.parametrize(
    ("typed", "command", "minutes"),
    [
        ("", BellCommand.ring, None),
        ("pauze", BellCommand.pause, None),
        ("pause", BellCommand.pause, None),
        ("verder", BellCommand.resume, None),
        ("+5", BellCommand.extend, 5),
        ("+ 10 min", BellCommand.extend, 10),
        ("volgende", BellCommand.next, None),
        ("Next", BellCommand.next, None),
        ("stop", BellCommand.stop, None),
        ("proces", BellCommand.process, None),
        ("time-out", BellCommand.time_out, None),
        ("timeout", BellCommand.time_out, None),
    ],
)
def test_bell_words_are_understood(typed: str, command: BellCommand, minutes: int | None) -> None:
    parsed = parse_bell("anna", typed)
    assert (parsed.member, parsed.command, parsed.minutes) == ("anna", command, minutes)


@pytest.mark.parametrize("typed", ["later", "+0", "+500", "-5", "pauze nu"])
def test_anything_else_is_an_unknown_bell_command(typed: str) -> None:
    with pytest.raises(UnknownBellCommand) as info:
        parse_bell("anna", typed)
    assert "pauze" in info.value.words


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("bezoek 2026-12-01 10:00", "visit"),
        ("mdo 2026-12-01 10:00", "mdo"),
        ("intake 2026-12-01 10:00", "intake"),
    ],
)
def test_an_event_word_plans_that_kind_of_event(typed: str, kind: str) -> None:
    parsed = parse_samen(typed)
    assert (parsed.action, parsed.args) == ("plan", (kind, "2026-12-01", "10:00"))
