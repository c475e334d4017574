"""docs/flow-tests.md describes every key the flow test format accepts, and docs/flows.md
every duration spelling, so that neither can drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

from bot.core import flowtest
from bot.core.effects import MessageKind
from bot.core.model import AnswerType
from bot.core.run import RunStatus
from bot.core.timing import UNIT_SPELLINGS

DOCS = Path(__file__).resolve().parents[2] / "docs"
TESTS_DOC = (DOCS / "flow-tests.md").read_text(encoding="utf-8")
FLOWS_DOC = (DOCS / "flows.md").read_text(encoding="utf-8")


def test_every_script_step_has_its_own_section() -> None:
    headings = re.findall(r"^### `(\w+)`$", TESTS_DOC, flags=re.M)
    assert headings == list(flowtest.SCRIPT_STEPS)


def test_every_key_of_a_file_team_member_case_start_event_and_step_is_described() -> None:
    keys = (
        *flowtest.FILE_KEYS,
        *flowtest.TEAM_KEYS,
        *flowtest.MEMBER_KEYS,
        *flowtest.CASE_KEYS,
        *flowtest.START_KEYS,
        *flowtest.EVENT_KEYS,
        *flowtest.STEP_KEYS,
    )
    missing = [key for key in keys if f"`{key}`" not in TESTS_DOC]
    assert missing == []


def test_every_expect_key_is_a_row_of_the_expect_table() -> None:
    section = TESTS_DOC.split("### `expect`", 1)[1].split("### ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    assert rows == list(flowtest.EXPECT_KEYS)


def test_every_message_kind_every_run_status_and_every_answer_type_is_named() -> None:
    for kind in MessageKind:
        assert f"`{kind.value}`" in TESTS_DOC, kind
    for status in RunStatus:
        assert f"`{status.value}`" in TESTS_DOC, status
    answers = TESTS_DOC.split("### `answer`", 1)[1].split("### ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \|", answers, flags=re.M)
    assert rows == [t.value for t in AnswerType]


def test_every_duration_spelling_is_listed_in_docs_flows() -> None:
    section = FLOWS_DOC.split("### Durations", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`([a-z]+)`", section))
    assert set(UNIT_SPELLINGS) <= listed, sorted(set(UNIT_SPELLINGS) - listed)


def test_the_catalogue_the_docs_mention_exists() -> None:
    assert "flows/catalogue.yaml" in FLOWS_DOC
    assert (DOCS.parent / "flows" / "catalogue.yaml").is_file()


def test_the_worked_example_in_docs_flows_is_a_correct_flow() -> None:
    from bot.core.loader import check_flow

    section = FLOWS_DOC.split("## A worked example", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    flow, problems = check_flow(example, "flows/roddelmethode.yaml")
    assert [str(p) for p in problems] == []
    assert flow is not None and flow.id == "roddelmethode"


def test_every_field_every_step_kind_and_every_choice_of_the_language_is_in_docs_flows() -> None:
    from enum import StrEnum

    from pydantic import BaseModel

    from bot.core import model

    missing = []
    for name, value in vars(model).items():
        if isinstance(value, type) and issubclass(value, BaseModel) and not name.startswith("_"):
            for field, info in value.model_fields.items():
                key = info.alias or field
                if f"`{key}" not in FLOWS_DOC and f"{key}:" not in FLOWS_DOC:
                    missing.append(f"{name}.{key}")
        elif isinstance(value, type) and issubclass(value, StrEnum) and value is not StrEnum:
            missing += [f"{name}.{m.value}" for m in value if m.value not in FLOWS_DOC]
    missing += [kind for kind in model.STEP_KINDS if f"| `{kind}` |" not in FLOWS_DOC]
    assert missing == []
