"""The store's adapter state (Telegram, issue #5), on SQLite and PostgreSQL: callback
tokens, reply routing, private chats, deep links, parked messages, pins, moved groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.store.repo import Store
from bot.store.tables import TeamRow

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def telegram_team(store: Store, channel: str = "-100") -> TeamRow:
    return await store.team_for_channel("telegram", channel, name="Wijkteam", now=NOW)


def message(key: str, destination: str, **more: Any) -> dict[str, Any]:
    return {
        "platform": "telegram",
        "destination": destination,
        "kind": "form",
        "priority": 3,
        "message": {"kind": "form"},
        "idempotency_key": key,
        **more,
    }


async def test_callback_tokens_are_kept_and_only_known_ones_come_back(store: Store) -> None:
    await store.save_callback_tokens("telegram", {"k|a": "a|run|s|q|x", "k|b": "d|1"}, NOW)
    # Saving a token again (the same form drawn again) is harmless.
    await store.save_callback_tokens("telegram", {"k|a": "a|run|s|q|x"}, NOW)
    assert await store.callback_tokens("telegram", ["k|a", "k|zz", "k|b"]) == {
        "k|a": "a|run|s|q|x",
        "k|b": "d|1",
    }
    assert await store.callback_tokens("slack", ["k|a"]) == {}
    assert await store.callback_tokens("telegram", []) == {}


async def test_a_reply_prompt_is_replaced_and_forgotten(store: Store) -> None:
    questions = [{"number": 1, "step": "s", "question": "q", "type": "text"}]
    await store.save_reply_prompt("telegram", "42:7", ("run-1", questions), NOW)
    assert await store.reply_prompt("telegram", "42:7") == ("run-1", questions)
    await store.save_reply_prompt("telegram", "42:7", ("run-2", []), NOW)
    assert await store.reply_prompt("telegram", "42:7") == ("run-2", [])
    await store.save_reply_prompt("telegram", "42:7", None, NOW)
    assert await store.reply_prompt("telegram", "42:7") is None


async def test_a_private_chat_is_open_or_blocked(store: Store) -> None:
    assert await store.private_chat("telegram", "7") is None
    await store.set_private_chat("telegram", "7", "blocked", NOW)
    assert await store.private_chat("telegram", "7") == "blocked"
    await store.set_private_chat("telegram", "7", "open", NOW + timedelta(minutes=1))
    assert await store.private_chat("telegram", "7") == "open"
    with pytest.raises(ValueError, match="open"):
        await store.set_private_chat("telegram", "7", "maybe", NOW)


async def test_one_start_link_per_person_until_it_is_used(store: Store) -> None:
    team = await telegram_team(store)
    token, new = await store.start_link_for("telegram", team.id, "7", NOW)
    assert new and len(token) <= 64 and token.isalnum()
    assert await store.start_link_for("telegram", team.id, "7", NOW) == (token, False)
    other, other_new = await store.start_link_for("telegram", team.id, "8", NOW)
    assert other_new and other != token
    link = await store.start_link(token)
    assert link is not None and (link.team_id, link.user, link.used_at) == (team.id, "7", None)

    assert await store.use_start_links("telegram", "7", NOW) == 1
    assert await store.use_start_links("telegram", "7", NOW) == 0
    used = await store.start_link(token)
    assert used is not None and used.used_at == NOW
    # Blocked again later (they deleted the chat): a new link.
    again, again_new = await store.start_link_for("telegram", team.id, "7", NOW)
    assert again_new and again != token


async def test_parked_messages_wait_and_are_released_in_order(store: Store) -> None:
    team = await telegram_team(store)
    await store.commit_messages(
        outbox=[
            message("q1", "dm:7", team_id=team.id),
            message("q2", "dm:7", team_id=team.id),
            message("other", "dm:8", team_id=team.id),
        ],
        now=NOW,
    )
    first, second, _other = await store.outbox_due(NOW)
    assert await store.outbox_wait_for_start(first.id, "waiting for start")
    assert await store.outbox_wait_for_start(second.id, "waiting for start")
    assert not await store.outbox_wait_for_start(second.id, "again")  # not pending any more
    assert [o.idempotency_key for o in await store.outbox_due(NOW + timedelta(days=1))] == ["other"]
    later = NOW + timedelta(hours=3)
    assert await store.outbox_release("telegram", "dm:7", later) == 2
    due = await store.outbox_due(later)
    assert [o.idempotency_key for o in due] == ["q1", "q2", "other"]
    assert {o.attempts for o in due} == {0}
    assert await store.outbox_release("telegram", "dm:7", later) == 0


async def test_a_pinned_status_message_per_run_and_chat(store: Store) -> None:
    assert await store.pinned_message("telegram", "-100", "run-1") is None
    await store.set_pinned_message("telegram", "-100", "run-1", "-100:5", NOW)
    await store.set_pinned_message("telegram", "-100", "run-2", "-100:9", NOW)
    assert await store.pinned_message("telegram", "-100", "run-1") == "-100:5"
    await store.set_pinned_message("telegram", "-100", "run-1", "-100:6", NOW)
    assert await store.pinned_message("telegram", "-100", "run-1") == "-100:6"
    assert await store.pinned_message("telegram", "-100", "run-2") == "-100:9"


async def test_a_group_that_moved_takes_its_team_and_waiting_messages_along(
    store: Store,
) -> None:
    team = await telegram_team(store, "-100")
    await store.commit_messages(outbox=[message("bell", "-100", team_id=team.id)], now=NOW)
    assert await store.move_channel("telegram", "-100", "-1009")
    moved = await store.get_team(team.id)
    assert moved is not None and moved.channel == "-1009"
    assert (await store.team_for_channel("telegram", "-1009", now=NOW)).id == team.id
    [row] = await store.outbox_due(NOW)
    assert row.destination == "-1009"
    assert not await store.move_channel("telegram", "-100", "-1010")
