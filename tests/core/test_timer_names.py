"""The names of the shell's own timers: written and read back by one codec."""

from __future__ import annotations

from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.timer_names import (
    EvaluationTimer,
    EventStartTimer,
    RetentionTimer,
    ScheduledFlowTimer,
    TimerName,
    parse_timer_name,
)

# The names bot/ writes today, as it writes them (service.py plans `schedule:` and
# `start:`, evaluations.py `evaluation:`, retention.py `retention:daily`).
WRITTEN = [
    ("schedule:check-in:5f1c0a9e", ScheduledFlowTimer("check-in", "5f1c0a9e")),
    (
        "start:huisbezoek-voorbereiden:e7b2:U024BE7LH",
        EventStartTimer("huisbezoek-voorbereiden", "e7b2", "U024BE7LH"),
    ),
    ("start:mdo:e7b2:123456789", EventStartTimer("mdo", "e7b2", "123456789")),
    ("evaluation:0c4f:due", EvaluationTimer("0c4f", "due")),
    ("evaluation:0c4f:overdue", EvaluationTimer("0c4f", "overdue")),
    ("evaluation:0c4f:escalate", EvaluationTimer("0c4f", "escalate")),
    ("retention:daily", RetentionTimer("daily")),
]


@pytest.mark.parametrize(("name", "timer"), WRITTEN)
def test_every_name_the_shell_writes_reads_back_as_its_timer(name: str, timer: TimerName) -> None:
    assert parse_timer_name(name) == timer
    assert timer.name() == name
    assert name.startswith(f"{timer.KIND}:")  # the row's kind is the name's first part


def test_the_daily_purge_is_called_retention_daily() -> None:
    assert RetentionTimer().name() == "retention:daily"


@pytest.mark.parametrize(
    ("name", "timer"),
    [
        # Missing parts read as "", as the shell's split-and-pad always did.
        ("schedule:", ScheduledFlowTimer("", "")),
        ("schedule:check-in", ScheduledFlowTimer("check-in", "")),
        ("start:mdo:e7b2", EventStartTimer("mdo", "e7b2", "")),
        ("start:mdo:e7b2:", EventStartTimer("mdo", "e7b2", "")),
        ("start:", EventStartTimer("", "", "")),
        ("evaluation:0c4f", EvaluationTimer("0c4f", "")),
        ("retention:", RetentionTimer("")),
        # The last part takes the rest of the name, colons and all.
        ("schedule:check-in:team:with:colons", ScheduledFlowTimer("check-in", "team:with:colons")),
        ("start:mdo:e7b2:console:anna", EventStartTimer("mdo", "e7b2", "console:anna")),
        ("evaluation:0c4f:due:extra", EvaluationTimer("0c4f", "due:extra")),
    ],
)
def test_a_name_with_parts_missing_or_to_spare_is_read_as_the_shell_read_it(
    name: str, timer: TimerName
) -> None:
    assert parse_timer_name(name) == timer


@pytest.mark.parametrize(
    "name",
    [
        "",
        "schedule",  # no colon: not a name of this kind
        "retention",
        "cadence:intake:traj:1",  # no longer planned by anything
        "vraag:deadline",  # a run's timer: the engine's id
        "overleg:bell.2",
        "Schedule:check-in:team",  # kinds are lower case
    ],
)
def test_a_name_of_no_known_kind_reads_as_none(name: str) -> None:
    assert parse_timer_name(name) is None


def test_an_evaluations_prefix_covers_its_timers_and_no_other_evaluations() -> None:
    prefix = EvaluationTimer.prefix("ab")
    assert all(EvaluationTimer("ab", w).name().startswith(prefix) for w in ("due", "escalate"))
    assert not EvaluationTimer("abc", "due").name().startswith(prefix)


# A part before the last cannot hold a colon: ids and flow names never do.
_PART = st.text(st.characters(blacklist_characters=":", blacklist_categories=("Cs",)))
_LAST = st.text(st.characters(blacklist_categories=("Cs",)))

timers: st.SearchStrategy[TimerName] = st.one_of(
    st.builds(ScheduledFlowTimer, _PART, _LAST),
    st.builds(EventStartTimer, _PART, _PART, _LAST),
    st.builds(EvaluationTimer, _PART, _LAST),
    st.builds(RetentionTimer, _LAST),
)


@given(timers)
def test_a_timer_survives_the_round_trip_through_its_name(timer: TimerName) -> None:
    assert parse_timer_name(timer.name()) == timer


def _read_as_the_shell_did(name: str) -> tuple[str, ...] | None:
    """service.py and evaluations.py today: `startswith`, then split with a limit and pad."""
    if name.startswith("schedule:"):
        return tuple([*name.split(":", 2), "", ""][1:3])
    if name.startswith("start:"):
        return tuple([*name.split(":", 3), "", "", ""][1:4])
    if name.startswith("evaluation:"):
        return tuple([*name.split(":", 2), "", ""][1:3])
    if name.startswith("retention:"):
        return (name.removeprefix("retention:"),)
    return None


@given(
    st.one_of(
        st.text(st.sampled_from("schedule:startvaluioned-x0")),
        st.sampled_from(["schedule:", "start:", "evaluation:", "retention:", "x:"]).flatmap(
            lambda kind: st.text(st.sampled_from("ab:")).map(lambda rest: kind + rest)
        ),
    )
)
def test_any_name_is_read_into_the_parts_the_shell_read_from_it(name: str) -> None:
    timer = parse_timer_name(name)
    expected = _read_as_the_shell_did(name)
    if expected is None:
        assert timer is None
        return
    assert timer is not None
    assert tuple(getattr(timer, f.name) for f in fields(timer)) == expected
