"""The harness's settle (tests/harness/settle.py) stops when nothing moves and fails, with
what still moves, when something never stops."""

from __future__ import annotations

import pytest

from tests.harness.console import Team
from tests.harness.settle import Unsettled, settle


async def test_settle_returns_once_the_typed_line_is_answered(team: Team) -> None:
    await team.type("/als anna", "/samen vliegen")
    assert "Dat commando ken ik niet" in team.said()
    await settle(team.runtime)  # nothing left: returns at once


async def test_settle_fails_loudly_with_what_is_still_moving(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def stuck() -> int:
        return 0  # a drain that never takes the rows

    monkeypatch.setattr(team.runtime.inbox, "drain", stuck)
    inbound = team.console.parse("/samen status")
    assert inbound is not None
    await team.runtime.inbound(inbound)
    with pytest.raises(Unsettled, match="1 inbox rows pending"):
        await settle(team.runtime, rounds=20)
