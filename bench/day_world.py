"""P7's world: a large organisation in PostgreSQL, a fake Slack that writes down every
call, and the two `samen run` processes that serve it.

Set-up, not measurement. The organisation's teams, people, working hours and
trajectories are written through the Store's public methods (`team_for_channel`,
`update_team`, `upsert_member`, `add_trajectory`); an evaluation moment and its timer,
for which the Store has no public writer outside the evaluation desk, go into their
tables directly, as P4 and P5 move and fill timers. The fake Slack (tests/adapters/slack)
runs in a process of its own and appends one JSON line per Web API call to a file, with
the moment it answered: the driver reads the forms people answer from it, and the
verdict the deliveries. Each `samen run` is the installed command in Slack's HTTP mode.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import insert

from bench.world import ROOT, SLACK_SECRET, SLACK_TOKEN
from bot.store.repo import Store
from bot.store.sealed import bind_row
from bot.store.tables import EvaluationRow, TimerRow

PEOPLE = 10  # per team
OPEN_MARGIN = timedelta(hours=2)  # an open team's hours reach this far around the day
SEED_AT_ONCE = 8  # teams seeded concurrently


# --------------------------------------------------------------------------- the organisation


def channel(team: int) -> str:
    return f"C{1_000_000 + team}"


def person(team: int, member: int) -> str:
    return f"U{2_000_000 + team * PEOPLE + member}"


def dm(user: str) -> str:
    """The IM channel the fake opens for `user` (conversations.open)."""
    return "D" + user.lstrip("U")


def user_of_dm(conversation: str) -> str | None:
    return "U" + conversation[1:] if conversation.startswith("D") else None


@dataclass
class Team:
    """One team: its channel, people, zone and working hours (local HH:MM, every day)."""

    index: int
    zone: str
    start: str
    end: str
    kind: str  # "open" (all day long), "ends" (its day ends inside), "starts"
    id: str = ""

    @property
    def channel(self) -> str:
        return channel(self.index)

    @property
    def people(self) -> list[str]:
        return [person(self.index, m) for m in range(PEOPLE)]

    def working(self, moment: datetime) -> bool:
        """Whether `moment` falls inside the team's hours (start inclusive, end not)."""
        local = moment.astimezone(ZoneInfo(self.zone)).strftime("%H:%M:%S.%f")
        return self.start <= local < self.end


def zone_for(team: int, at: datetime) -> str:
    """An Etc/GMT zone in which `at` is between 09:00 and 15:59 local, varied by team: the
    day is compressed to minutes, so each team's working window must hold it, and a
    team's hours may not span midnight (the Store refuses end before start)."""
    offset = (12 - at.astimezone(UTC).hour) + (team % 7 - 3)
    offset = (offset + 12) % 24 - 12  # into -12..+11
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


def _local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def _minute_up(moment: datetime) -> datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(minutes=1)


def plan_teams(
    n: int, day_start: datetime, day: timedelta, zones: Sequence[str] | None = None
) -> list[Team]:
    """Every tenth team's working day ends inside the compressed day, every tenth (the
    next) starts inside it; the others work all through it. Boundaries fall on whole
    minutes (team hours are HH:MM) spread over the middle of the day. `zones`: those of
    an earlier plan (a team keeps its zone when its hours are planned again)."""
    teams = []
    for i in range(n):
        zone = zones[i] if zones is not None else zone_for(i, day_start)
        share = 0.25 + 0.5 * ((i // 10) % 10) / 10  # where in the day the boundary falls
        boundary = _minute_up(day_start + day * share)
        if i % 10 == 0:
            kind, start, end = "ends", day_start - OPEN_MARGIN, boundary
        elif i % 10 == 1:
            kind, start, end = "starts", boundary, boundary + 3 * OPEN_MARGIN
        else:
            kind, start, end = "open", day_start - OPEN_MARGIN, day_start + day + OPEN_MARGIN
        teams.append(Team(i, zone, _local(start, zone), _local(end, zone), kind))
    return teams


def new_data_key() -> str:
    """A data key for every process of the installation (SAMEN_DATA_KEY): the answers one
    process seals, the other must open."""
    return base64.b64encode(os.urandom(32)).decode()


@contextmanager
def data_key(key: str) -> Iterator[None]:
    """`SAMEN_DATA_KEY` and `SAMEN_AUDIT_KEY` set while a Store is opened here, so that
    what the benchmark writes and reads is sealed with the installation's keys (and no
    key file is made in the user's own configuration directory)."""
    keys = {"SAMEN_DATA_KEY": key, "SAMEN_AUDIT_KEY": audit_key(key)}
    before = {name: os.environ.get(name) for name in keys}
    os.environ.update(keys)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def audit_key(data_key: str) -> str:
    """The installation's access-log key, derived from its data key: one per run, the same
    in every process of it (a real installation keeps the two apart)."""
    return base64.b64encode(hashlib.sha256(b"audit:" + data_key.encode()).digest()).decode()


async def seed_teams(store: Store, teams: Sequence[Team], now: datetime) -> None:
    """Each team with its ten people and its zone and hours, through the Store."""
    gate = asyncio.Semaphore(SEED_AT_ONCE)

    async def one(team: Team) -> None:
        async with gate:
            row = await store.team_for_channel(
                "slack", team.channel, name=f"Team {team.index}", now=now
            )
            await set_hours(store, team, row.id)
            for m, user in enumerate(team.people):
                roles = ["member", "coordinator"] if m == 0 else None
                await store.upsert_member(row.id, user, f"Lid {m}", now=now, roles=roles)

    await asyncio.gather(*(one(t) for t in teams))


async def set_hours(store: Store, team: Team, team_id: str | None = None) -> None:
    team.id = team_id or team.id
    await store.update_team(
        team.id,
        timezone=team.zone,
        work_days="1,2,3,4,5,6,7",  # the benchmark runs on any day of the week
        work_start=team.start,
        work_end=team.end,
    )


@dataclass(frozen=True)
class Nudge:
    """An evaluation moment that falls due inside the day: its owner is nudged."""

    ref: str  # the trajectory's pseudonym, which the nudge names
    team: int
    owner: str
    evaluation_id: str
    trajectory_id: str


async def seed_trajectories(
    store: Store, teams: Sequence[Team], n: int, now: datetime
) -> list[Nudge]:
    """`n` trajectories, spread over the teams, each with an evaluation moment due today
    (six months after its start, in the team's zone): the timers come later
    (`plan_nudges`), once the day's start is known."""
    gate = asyncio.Semaphore(SEED_AT_ONCE)
    nudges: list[Nudge] = []
    rows: list[dict[str, Any]] = []

    async def one(j: int) -> None:
        team = teams[j % len(teams)]
        owner = team.people[(j // len(teams)) % PEOPLE]
        today = now.astimezone(ZoneInfo(team.zone)).date()
        ref = f"EV-{j:05d}"
        async with gate:
            trajectory = await store.add_trajectory(
                team.id, ref, owner, today - relativedelta(months=6), now=now
            )
        assert trajectory is not None
        evaluation_id = os.urandom(16).hex()
        rows.append(_evaluation(evaluation_id, trajectory.id, team.id, today, now))
        nudges.append(Nudge(ref, team.index, owner, evaluation_id, trajectory.id))

    await asyncio.gather(*(one(j) for j in range(n)))
    async with store.engine.begin() as conn:
        for chunk in range(0, len(rows), 1000):
            bound = [bind_row(EvaluationRow, r, insert=True) for r in rows[chunk : chunk + 1000]]
            await conn.execute(insert(EvaluationRow), bound)
    return sorted(nudges, key=lambda x: x.ref)


def _evaluation(
    evaluation_id: str, trajectory_id: str, team_id: str, due: date, now: datetime
) -> dict[str, Any]:
    return {
        "id": evaluation_id,
        "trajectory_id": trajectory_id,
        "team_id": team_id,
        "kind": "plan_review",
        "due_on": due,
        "status": "open",
        "snoozes": 0,
        "snooze_reason": "",
        "outcome": "",
        "course": "",
        "history": [],
        "created_at": now,
    }


async def plan_nudges(
    store: Store, nudges: Sequence[Nudge], first: datetime, spread: timedelta
) -> dict[str, datetime]:
    """The due timer of each evaluation, spread evenly over `spread` from `first` in a
    shuffled order of teams; the due moment of each nudge by its ref."""
    order = list(nudges)
    random.Random(7).shuffle(order)
    due_of: dict[str, datetime] = {}
    rows = []
    for k, nudge in enumerate(order):
        due = first + spread * (k / max(1, len(order)))
        due_of[nudge.ref] = due
        name = f"evaluation:{nudge.evaluation_id}:due"
        rows.append(
            {
                "run_id": None,
                "timer": name,
                "kind": "evaluation",
                "due_at": due,
                "status": "pending",
                "idempotency_key": f"{name}:{due.isoformat()}",
                "attempts": 0,
                "note": "",
            }
        )
    async with store.engine.begin() as conn:
        for chunk in range(0, len(rows), 1000):
            await conn.execute(insert(TimerRow), rows[chunk : chunk + 1000])
    return due_of


# --------------------------------------------------------------------------- the flows


def _choice(qid: str, nl: str, en: str) -> dict[str, Any]:
    return {
        "id": qid,
        "type": "choice",
        "text": {"nl": nl, "en": en},
        "options": [
            {"id": "goed", "text": {"nl": "Goed", "en": "Good"}},
            {"id": "matig", "text": {"nl": "Matig", "en": "So-so"}},
            {"id": "slecht", "text": {"nl": "Slecht", "en": "Bad"}},
        ],
    }


_BASE = {
    "languages": ["nl", "en"],
    "participants": ["member"],
    "permissions": {"start": ["member"], "see_answers": ["member"], "see_missing": ["member"]},
}


def day_flows(phases: int) -> list[dict[str, Any]]:
    """The day's flows, with the short phases and deadlines of a compressed day."""
    meeting = {
        "id": "dag-overleg",
        "title": {"nl": "Teamoverleg", "en": "Team meeting"},
        **_BASE,
        "steps": [
            *[
                {
                    "id": f"fase-{i}",
                    "phase": {
                        "title": {"nl": f"Fase {i}", "en": f"Phase {i}"},
                        "duration": "1m",
                        "warnings": [],
                    },
                }
                for i in range(1, phases + 1)
            ],
            {
                "id": "terugblik",
                "collect": {
                    "deadline": "10m",
                    "questions": [_choice("hoe", "Hoe was het overleg?", "How was it?")],
                },
            },
            {"id": "klaar", "end": {}},
        ],
    }
    checkin = {
        "id": "dag-checkin",
        "title": {"nl": "Check-in", "en": "Check-in"},
        **_BASE,
        "steps": [
            {
                "id": "vragen",
                "collect": {
                    "deadline": "15m",
                    "questions": [
                        _choice("werkdruk", "Hoe is de werkdruk?", "How is the workload?"),
                        _choice("sfeer", "Hoe is de sfeer?", "How is the atmosphere?"),
                    ],
                },
            },
            {"id": "klaar", "end": {}},
        ],
    }
    visit = {
        "id": "dag-bezoek",
        "title": {"nl": "Na het bezoek", "en": "After the visit"},
        **_BASE,
        "triggers": [{"event": "visit", "after": "1m"}],
        "steps": [
            {
                "id": "terugblik",
                "collect": {
                    "deadline": "10m",
                    "questions": [_choice("hoe", "Hoe ging het bezoek?", "How did it go?")],
                },
            },
            {"id": "klaar", "end": {}},
        ],
    }
    evaluation = {
        "id": "dag-evaluatie",
        "title": {"nl": "Evaluatiemoment", "en": "Evaluation moment"},
        **_BASE,
        "triggers": [{"cadence": {"anchor": "start", "at": ["6 months"]}}],
        "steps": [
            {
                "id": "moment",
                "ask": {
                    "to": "starter",
                    "timeout": "1d",
                    "question": _choice("aanpak", "Hoe pak je het op?", "How will you?"),
                },
            },
            {"id": "klaar", "end": {}},
        ],
    }
    return [meeting, checkin, visit, evaluation]


# --------------------------------------------------------------------------- the fake Slack


async def _serve_recording_fake(log_path: str, zones_path: str) -> None:
    """The fake Slack Web API, enforcing 1 message/s per channel, every call appended to
    `log_path` as one JSON line: when it answered, method, status, channel, ts, text, and
    the answer elements of the message (what a person can click)."""
    from tests.harness.fake_slack import FakeSlack

    zones = json.loads(Path(zones_path).read_text())
    with Path(log_path).open("a", encoding="utf-8", buffering=1) as log:

        class RecordingSlack(FakeSlack):
            async def _handle(self, request: Any) -> Any:
                response = await super()._handle(request)
                # No await since the call was appended: the last call is this request's.
                call = self.calls[-1]
                answer = call.response or {}
                line = {
                    "t": time.time(),
                    "method": call.method,
                    "status": response.status,
                    "ok": bool(answer.get("ok")),
                    "channel": str(answer.get("channel") or call.args.get("channel") or ""),
                    "ts": str(answer.get("ts") or call.args.get("ts") or ""),
                }
                if call.method in ("chat.postMessage", "chat.update"):
                    blocks = call.args.get("blocks") or []
                    if isinstance(blocks, str):
                        blocks = json.loads(blocks)
                    line["text"] = str(call.args.get("text", ""))
                    line["content"] = json.dumps(blocks, sort_keys=True, ensure_ascii=False)
                    line["buttons"] = [
                        {k: e.get(k) for k in ("type", "action_id", "value")}
                        for b in blocks
                        if b.get("type") == "actions"
                        for e in b.get("elements", [])
                        if str(e.get("action_id", "")).startswith("a|")
                    ]
                log.write(json.dumps(line, ensure_ascii=False) + "\n")
                if call.method != "response_url":  # only those are counted again (404)
                    # Kept, a day's 75,000 calls made the garbage collector's full
                    # passes long enough to stall this fake for most of a second.
                    self.calls.pop()
                return response

        fake = RecordingSlack(per_channel_rate=1.0, zones=zones)
        print(await fake.start(), flush=True)
        done = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
        await done.wait()
        await fake.stop()


async def start_fake(
    log_path: Path, zones: dict[str, str]
) -> tuple[asyncio.subprocess.Process, str]:
    zones_path = log_path.with_suffix(".zones.json")
    zones_path.write_text(json.dumps(zones))
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.day_world",
        "--fake",
        str(log_path),
        str(zones_path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    url = (await asyncio.wait_for(child.stdout.readline(), 30)).decode().strip()
    if not url:
        raise RuntimeError("the fake Slack process did not start")
    return child, url


# --------------------------------------------------------------------------- `samen run`


def _samen() -> str:
    beside = Path(sys.executable).parent / "samen"
    return str(beside if beside.exists() else ROOT / ".venv" / "bin" / "samen")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SamenRun:
    """One `samen run --slack-http` process; its output goes to a file."""

    def __init__(self, folder: Path, env: dict[str, str], name: str) -> None:
        self.port = free_port()
        self.log = folder / f"{name}.log"
        self._out = self.log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [_samen(), "run", "--slack-http", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def ready(self, bound: float = 60.0) -> None:
        end = time.monotonic() + bound
        while "Samen draait" not in self.output():
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"samen run did not start:\n{self.output()[-2000:]}")
            await asyncio.sleep(0.1)

    def leases(self) -> list[str]:
        """The jobs this process took the lease of (timer, inbox, outbox), as it logged."""
        said = self.output()
        return [job for job in ("timer", "inbox", "outbox") if f"{job} lease taken" in said]

    def cpu_seconds(self) -> float:
        """User and system CPU time the process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cpu_waited(self) -> float:
        """Seconds the process's threads have waited, runnable, for a CPU (schedstat's
        run delay): the share of a busy machine it did not get."""
        total = 0
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue  # a thread that ended meanwhile
        return total / 1e9

    def peak_rss_mb(self) -> float:
        """The process's peak resident memory so far (VmHWM), in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    async def stop(self, bound: float = 30.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        end = time.monotonic() + bound
        while self.proc.poll() is None and time.monotonic() < end:
            await asyncio.sleep(0.1)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._out.close()
        return self.proc.returncode


def samen_environment(
    folder: Path, database_url: str, flows: Path, api_url: str, key: str, cap: int
) -> dict[str, str]:
    """The environment of each `samen run`: this one's without Samen's or the platforms'
    settings, plus the installation's."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SAMEN_", "SLACK_", "TELEGRAM_"))
    }
    env.update(
        PYTHONUNBUFFERED="1",
        SAMEN_DATA_DIR=str(folder / "data"),
        SAMEN_CONFIG_DIR=str(folder / "config"),  # the audit key: the run's, not the user's
        SAMEN_DATABASE_URL=database_url,
        SAMEN_FLOWS_DIR=str(flows),
        SAMEN_TEAMS_FILE=str(folder / "no-teams.yaml"),
        SAMEN_DATA_KEY=key,
        SAMEN_AUDIT_KEY=audit_key(key),
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET=SLACK_SECRET,
        SAMEN_SLACK_API_URL=api_url,
        SAMEN_SLACK_WORKSPACE_CAP=str(cap),
    )
    return env


if __name__ == "__main__" and sys.argv[1:2] == ["--fake"]:
    import bench.world  # noqa: F401  (puts the fakes' folders on the path)

    asyncio.run(_serve_recording_fake(sys.argv[2], sys.argv[3]))
