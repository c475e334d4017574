"""The sentinel test (R-PRV-8, R-SEC-4): a made-up client name, a BSN that passes the
eleven-test and secrets go in through every input path of the real runtime, and are
then looked for in the database file and its WAL, in the logs at DEBUG, in what was
sent out, and in the scheduler's state. They may only be inside sealed columns, which
hold no readable text at all: so they must be nowhere.

Input paths: `/samen` and `/bel` commands with free arguments, a trajectory code, an
answer to a private question (confirmed after the warning), an answer in the wrong
shape, the platform secrets and the data key in the environment (config), and a flow
text. A flow text is written by the flow's author to be shown, so it may appear in what
is sent out; it must not appear in the database or the logs.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.base import Delivery, DeliveryResult
from adapters.console import ConsoleAdapter
from bot.config import Settings
from bot.core.sensitive import passes_eleven_test
from bot.privacy.logs import CAPPED
from bot.runtime.clock import FakeClock
from bot.wiring import build_runtime
from tests.harness.console import Team
from tests.harness.world import ROOT

CLIENT = "Zonnebloem-Verhaar"
BSN = "247593412"
SECRET = "xoxb-sentinel-7f3a9c2e51d04b8a"
TG_SECRET = "987654:AAsentinelTelegramToken42"
DATA_KEY = base64.b64encode(bytes(range(32))).decode()
FLOW_TEXT = "Kompasroos-Inleiding"
EMAIL = "kompas.zeewier@voorbeeld-zorg.nl"
PHONE = "06-48213579"

FLOW = f"""\
id: privacytoets
title: {{nl: Privacytoets, en: Privacy check}}
languages: [nl, en]
participants: [member]
triggers:
  - command: privacytoets
steps:
  - id: notitie
    collect:
      to: [member]
      intro: {{nl: "{FLOW_TEXT} voor de toets", en: "{FLOW_TEXT} for the check"}}
      deadline: 1d
      questions:
        - id: prive
          type: text
          visibility: private
          text: {{nl: "Een notitie voor jezelf", en: "A note for yourself"}}
  - id: samenvatting
    summary:
      to: thread
      show: [answers, missing]
"""


def _variants(value: str) -> list[bytes]:
    return [value.encode("utf-8"), json.dumps(value).encode("utf-8"), value.lower().encode()]


def test_the_sentinel_bsn_passes_the_eleven_test() -> None:
    assert passes_eleven_test(BSN)


@pytest.fixture
async def team(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[tuple[Team, list[Any], Path]]:
    caplog.set_level(logging.DEBUG)  # before the engine exists: SQLAlchemy checks it then
    flows = tmp_path / "flows"
    flows.mkdir()
    for path in (ROOT / "flows").glob("*.yaml"):
        (flows / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (flows / "privacytoets.yaml").write_text(FLOW, encoding="utf-8")
    monkeypatch.setenv("SLACK_BOT_TOKEN", SECRET)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TG_SECRET)
    monkeypatch.setenv("SAMEN_DATA_KEY", DATA_KEY)
    settings = Settings(data_dir=tmp_path / "data", flows_dir=flows)
    assert settings.slack_bot_token is not None  # the secrets really are configured
    logging.getLogger(__name__).debug("settings: %r", settings)  # as a careless caller might

    printed: list[str] = []
    sent: list[Any] = []
    console = ConsoleAdapter(out=printed.append)
    deliver = console.deliver

    async def recording(delivery: Delivery) -> DeliveryResult:
        sent.append(delivery)
        return await deliver(delivery)

    console.deliver = recording  # type: ignore[method-assign]
    clock = FakeClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    runtime = await build_runtime(settings, clock=clock, adapters=[console], use_apscheduler=False)
    yield Team(runtime, console, clock, printed), sent, tmp_path / "data"
    await runtime.store.close()


async def test_sentinels_fed_through_every_input_path_are_found_nowhere(
    team: tuple[Team, list[Any], Path], caplog: pytest.LogCaptureFixture
) -> None:
    t, sent, data_dir = team
    runtime = t.runtime

    async def type(*lines: str) -> None:  # one line at a time, 2 s apart (rate limits)
        for line in lines:
            await t.type(line)
            await t.wait(timedelta(seconds=2))

    await type("/als anna", "/samen", "/als bram", "/samen")
    # Commands with free text: unknown ones, a bell, a trajectory code, a planned visit.
    await type("/als anna", f"/samen {CLIENT} {BSN}", f"/samen vliegen {CLIENT} {BSN}")
    await type(f"/bel {CLIENT} {BSN}", f"/samen traject {CLIENT} 2026-01-05")
    await type(f"/samen traject {BSN} 2026-01-05", f"/samen bezoek morgen {CLIENT}")
    await type(f"/{CLIENT.lower()} {BSN}")
    # An answer to a private question: warned first, then confirmed and stored.
    await type("/samen start privacytoets")
    answer = f"Gesprek met mevrouw {CLIENT}, bsn {BSN}"
    await type(f"/a 1 {answer}")
    assert "lijkt een naam, een BSN, een e-mailadres of een telefoonnummer" in t.said()
    await type(f"/a 1 {answer}", "/als bram", "/a 1 -")
    await t.wait(timedelta(days=1, minutes=5))
    assert "Samenvatting" in t.said() or "samenvatting" in t.said().lower()
    # An answer to a run that does not exist (a wrong shape of input).
    await type("/als anna", f"/a 9 {CLIENT} {BSN}")
    # E-mail and phone: in an answer (warned, not confirmed), a trajectory code, the course
    # and a snooze reason of an evaluation, and a flow name typed in a command.
    await type("/samen start privacytoets", f"/a 2 mail {EMAIL} of bel {PHONE}")
    await type(f"/samen traject {PHONE} 2026-01-05", "/samen traject T-55 2026-01-05")
    await type(f"/samen evaluatie T-55 uitstel 2w bel {PHONE} of mail {EMAIL}")
    await type(f"/samen start {EMAIL}", f"/samen sessie {CLIENT}")

    # Stored, and readable through the store (sealed at rest, not lost).
    async with runtime.store.sessionmaker() as s, s.begin():
        from sqlalchemy import select

        from bot.store.tables import AnswerRow

        values = list(await s.scalars(select(AnswerRow.value)))
    assert answer in values
    # Showing the summary is a read of answers by people: in the access log, no content.
    async with runtime.store.sessionmaker() as s, s.begin():
        from bot.store.tables import AccessLogRow

        reads = [r for r in await s.scalars(select(AccessLogRow)) if r.action == "read"]
    assert reads and all(r.subject.startswith("team:") for r in reads)
    assert reads[0].what.startswith("summary of run") and reads[0].actor.startswith("audience:")

    await runtime.store.close()  # checkpoint nothing away: the WAL is read as it is
    files = [data_dir / "samen.db", data_dir / "samen.db-wal", data_dir / "samen.db-shm"]
    blobs = {f.name: f.read_bytes() for f in files if f.exists()}
    assert "samen.db" in blobs
    logs = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    # DEBUG logging really was on, for Samen's own loggers; its dependencies' are capped.
    assert logging.getLogger("samen").isEnabledFor(logging.DEBUG)
    assert len([r for r in caplog.records if r.name.startswith(("samen", "bot"))]) > 20
    capped = [r for r in caplog.records if r.name.split(".")[0] in CAPPED]
    assert all(r.levelno >= logging.WARNING for r in capped), capped[:3]
    # A private answer may be shown to the one who gave it, in their own direct chat (the
    # form shows what they answered); every other delivery must be free of it.
    own = [d for d in sent if d.chat == "dm:anna" and d.op == "edit"]
    others = [d for d in sent if d not in own]
    outbound = json.dumps(
        [asdict(d) if is_dataclass(d) else repr(d) for d in others],
        default=str,
        ensure_ascii=False,
    )
    assert others and own, "the console received deliveries"
    scheduler = repr(runtime.scheduler._armed) + repr(runtime.scheduler.stats)

    for sentinel in (CLIENT, BSN, SECRET, TG_SECRET, DATA_KEY, FLOW_TEXT, EMAIL, PHONE):
        for name, blob in blobs.items():
            for variant in _variants(sentinel):
                assert variant not in blob, f"{sentinel!r} in {name}"
        assert sentinel.lower() not in logs.lower(), f"{sentinel!r} in the logs"
        assert sentinel not in scheduler
        if sentinel != FLOW_TEXT:  # a flow's text is meant to be shown
            i = outbound.lower().find(sentinel.lower())
            assert i < 0, f"{sentinel!r} sent out: {outbound[max(0, i - 300) : i + 100]}"
    assert FLOW_TEXT in outbound  # and it was: the check above is not vacuous
    assert not (data_dir / "data.key").exists()  # the environment's key was used

    # Every table and column as the store reads it (sealed values opened), and every
    # export, before and after forget and purge: a held-back e-mail address or phone
    # number was never stored, and no reply repeated it.
    from bot.store import privacy
    from bot.store.repo import Store
    from bot.store.tables import Base

    store = await Store.open(f"sqlite+aiosqlite:///{data_dir / 'samen.db'}")
    try:
        team_id = (await store.teams())[0].id

        async def everything() -> str:
            rows = []
            async with store.sessionmaker() as s, s.begin():
                for mapper in Base.registry.mappers:
                    rows += [privacy.as_dict(r) for r in await s.scalars(select(mapper.class_))]
            exports = [
                await privacy.export_team(store, team_id, actor="admin:t", now=t.clock.now()),
                await privacy.export_person(store, "anna", actor="admin:t", now=t.clock.now()),
            ]
            return json.dumps([rows, exports], ensure_ascii=False, default=str)

        seen = await everything()
        assert answer in seen  # the walk opens sealed values: the confirmed answer is there
        await privacy.forget(store, "bram", actor="admin:t", now=t.clock.now())
        await privacy.purge(store, {}, now=t.clock.now() + timedelta(days=400))
        for text in (seen, await everything()):
            for sentinel in (EMAIL, PHONE, SECRET, TG_SECRET, DATA_KEY):
                assert sentinel not in text, sentinel
        assert answer not in await everything()  # purged with its run
    finally:
        await store.close()
