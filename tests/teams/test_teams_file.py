"""Teams from config/teams.yaml: applied on start, and a bad file says where it is wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.store.repo import Store
from bot.teams.teams_file import TeamsFileError, apply_teams, read_teams

ROOT = Path(__file__).resolve().parent.parent.parent
NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)


async def test_the_example_teams_file_sets_up_a_team_with_its_roles(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'samen.db'}")
    try:
        assert await apply_teams(store, read_teams(ROOT / "config/teams.example.yaml"), NOW) == 1
        team = await store.team_for_channel("console", "team", now=NOW)
        assert (team.name, team.language, team.work_days, team.work_start) == (
            "Wijkteam Oost",
            "nl",
            "1,2,3,4,5",
            "08:30",
        )
        members = {m.user: m.roles for m in await store.members(team.id)}
        assert members == {"anna": ["chair", "coordinator"], "bram": [], "cor": []}
        # Applying again changes nothing and loses nothing set from chat meanwhile.
        await store.set_roles(team.id, "bram", ["presenter"])
        await apply_teams(store, read_teams(ROOT / "config/teams.example.yaml"), NOW)
        members = {m.user: m.roles for m in await store.members(team.id)}
        assert members["bram"] == ["presenter"]
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        (
            "teams:\n  - platform: console\n    channel: t\n    langauge: en\n",
            ":4:5:",
            "did you mean 'language'",
        ),
        ("teams:\n  - platform: signal\n    channel: t\n", ":2:15:", "console"),
        (
            "teams:\n  - platform: console\n    channel: t\n    working_hours: altijd\n",
            ":4:20:",
            "ma-vr 08:30-17:30",
        ),
        ("teams:\n  - platform: console\n   channel: t\n", ":3:", ""),
    ],
)
def test_a_bad_teams_file_is_reported_with_line_and_column(
    tmp_path: Path, text: str, where: str, says: str
) -> None:
    path = tmp_path / "teams.yaml"
    path.write_text(text)
    with pytest.raises(TeamsFileError) as info:
        read_teams(path)
    report = str(info.value)
    assert where in report and says in report, report
