"""bot/teams/start_links.py on a real (SQLite) store: one deep link per person in the team's group,
in the team's language, and the parked messages released when they press Start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.runtime.clock import FakeClock
from bot.store.repo import Store
from bot.teams.start_links import StartLinks

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Courier:
    platform = "telegram"

    def start_link(self, token: str) -> str:
        return f"https://t.me/SamenTestBot?start={token}"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'samen.db'}")
    try:
        yield opened
    finally:
        await opened.close()


def question(key: str, team_id: str) -> dict[str, object]:
    return {
        "team_id": team_id,
        "platform": "telegram",
        "destination": "dm:7",
        "kind": "form",
        "priority": 3,
        "message": {"kind": "form", "text": "secret question text"},
        "idempotency_key": key,
    }


async def test_one_link_in_the_team_language_then_the_questions_are_released(
    store: Store,
) -> None:
    team = await store.team_for_channel("telegram", "-100", name="Team", now=NOW)
    await store.update_team(team.id, language="en")
    await store.upsert_member(team.id, "7", "Bram de Vries", now=NOW)
    await store.commit_messages(outbox=[question("q1", team.id), question("q2", team.id)], now=NOW)
    notified: list[bool] = []
    links = StartLinks(store, FakeClock(NOW), lambda: notified.append(True))
    for row in await store.outbox_due(NOW):
        assert await store.outbox_wait_for_start(row.id, "waiting for start")
        await links.blocked(row, Courier())
    [link] = await store.outbox_due(NOW)
    assert link.destination == "-100" and link.priority == 2
    text = link.message["text"]
    assert text.startswith("Bram, there are questions waiting for you")
    assert "https://t.me/SamenTestBot?start=" in text and "de Vries" not in text
    assert "secret" not in text
    assert notified == [True]

    assert await links.started("telegram", "7", {"start": "whatever"}) == 2
    assert [r.idempotency_key for r in await store.outbox_due(NOW)][-2:] == ["q1", "q2"]
    assert notified == [True, True]
    assert await links.started("telegram", "7", {}) == 0


async def test_a_courier_without_start_links_or_a_group_message_is_left_alone(
    store: Store,
) -> None:
    team = await store.team_for_channel("slack", "C1", name="Team", now=NOW)
    await store.commit_messages(outbox=[{**question("q1", team.id), "platform": "slack"}], now=NOW)
    [row] = await store.outbox_due(NOW)
    await StartLinks(store, FakeClock(NOW)).blocked(row, object())
    assert [r.id for r in await store.outbox_due(NOW)] == [row.id]
