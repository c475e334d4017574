"""`samen run` on Matrix as an operator starts it (the documented MATRIX_* variables, a
first login by password), killed with SIGKILL in the middle of a burst of 100 commands
and started again: every command is answered, none twice."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from nio import RoomCreateResponse

from tests.harness.matrix import Person
from tests.harness.process import SamenProcess, environment
from tests.harness.synapse import Account, Synapse
from tests.harness.world import FLOWS

HELP = "Samen helpt je team bij vaste werkvormen."
BURST = 100
BOUND = 180.0  # seconds: a bound on waiting, never an assertion


def start(tmp_path: Path, synapse: Synapse, bot: Account) -> SamenProcess:
    return SamenProcess(
        environment(
            tmp_path,
            MATRIX_HOMESERVER=synapse.url,
            MATRIX_USER_ID=bot.user_id,
            MATRIX_PASSWORD=bot.password,
            SAMEN_FLOWS_DIR=str(FLOWS),
        )
    )


def state(samen: SamenProcess, database: Path) -> str:
    """What the database and the log say (for a failure's message)."""
    with sqlite3.connect(database) as db:
        inbox = db.execute("select status, count(*) from inbox group by status").fetchall()
        outbox = db.execute(
            "select status, op, count(*) from outbox group by status, op"
        ).fetchall()
        doubles = db.execute(
            "select platform_ref, count(*), group_concat(id) from outbox"
            " group by platform_ref having count(*) > 1"
        ).fetchall()
        outbox = [*outbox, ("doubles", doubles)]
    lines = [line for line in samen.errors().splitlines() if "samen.outbox" not in line]
    return f"inbox {inbox} outbox {outbox}\n" + "\n".join(lines[-60:])


async def answers(anna: Person, room: str) -> int:
    await anna.sync()
    return anna.texts(room).count(HELP)


async def until_answered(
    anna: Person, room: str, at_least: int, samen: SamenProcess, database: Path
) -> int:
    deadline = asyncio.get_running_loop().time() + BOUND
    while (seen := await answers(anna, room)) < at_least:
        assert samen.proc.poll() is None, samen.errors()[-3000:]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{seen} answers of {at_least}\n{state(samen, database)}")
        await asyncio.sleep(0.2)
    return seen


async def test_kill_9_during_a_burst_loses_nothing_and_doubles_nothing(
    tmp_path: Path, synapse: Synapse, accounts: dict[str, Account]
) -> None:
    bot = accounts["bot"]
    anna = Person("anna", accounts["anna"], synapse.url, tmp_path / "anna", bot.user_id)
    await anna.log_in()
    made = await anna.client.room_create(name="Wijkteam Zuid", invite=[bot.user_id])
    assert isinstance(made, RoomCreateResponse)
    room = made.room_id
    first = start(tmp_path, synapse, bot)
    second = None
    try:
        # Connected: the bot accepted the invitation and greeted the room.
        async with asyncio.timeout(BOUND):
            while "Dank je!" not in anna.texts(room):
                assert first.proc.poll() is None, first.errors()[-3000:]
                await anna.sync()
                await asyncio.sleep(0.2)
        for _ in range(BURST):
            await anna.send(room, "!samen")
        database = tmp_path / "data" / "samen.db"
        await until_answered(anna, room, 10, first, database)
        first.kill()  # SIGKILL: no shutdown, no last write
        assert await answers(anna, room) < BURST  # killed in the middle of it

        second = start(tmp_path, synapse, bot)
        await until_answered(anna, room, BURST, second, database)
        # Quiet: every command in the inbox is done and nothing waits in the outbox.
        async with asyncio.timeout(BOUND):
            while True:
                with sqlite3.connect(database) as db:
                    (waiting,) = db.execute(
                        "select count(*) from outbox where status not in ('sent', 'failed')"
                    ).fetchone()
                    (new,) = db.execute(
                        "select count(*) from inbox where status = 'new'"
                    ).fetchone()
                if waiting == 0 and new == 0:
                    break
                await asyncio.sleep(0.2)
        assert await answers(anna, room) == BURST
        with sqlite3.connect(database) as db:
            (failed,) = db.execute("select count(*) from outbox where status = 'failed'").fetchone()
            (commands,) = db.execute(
                "select count(*) from inbox where platform = 'matrix' and event_key like '$%'"
            ).fetchone()
        assert failed == 0
        assert commands == BURST + 1  # the hundred commands and Anna's join, once each
    finally:
        first.kill()
        if second is not None:
            second.kill()
        await anna.close()
