"""Drawing a flow as a Mermaid flowchart."""

from __future__ import annotations

from bot.core.graph import to_mermaid
from bot.core.model import Flow

FLOW = Flow.model_validate(
    {
        "id": "overleg",
        "title": "Overleg",
        "languages": ["nl", "en"],
        "steps": [
            {"id": "start", "say": {"text": {"nl": 'Zeg "hallo" <b>#1</b>', "en": "Say hi"}}},
            {
                "id": "stap-1",
                "phase": {"title": {"nl": "Casusbespreking", "en": "Case"}, "duration": "25m"},
            },
            {"id": "hoe", "ask": {"question": {"id": "score", "type": "scale", "text": "Score"}}},
            {
                "id": "kies",
                "branch": [
                    {"when": {"answer": "hoe", "at_least": 4, "who": "all"}, "goto": "klaar"},
                    {
                        "any": [
                            {"answer": "hoe", "at_most": 1},
                            {"answer": "hoe", "answered": False},
                        ],
                        "goto": "stap-1",
                    },
                ],
            },
            {"id": "wacht", "wait": {"for": "2h"}, "next": "klaar"},
            {"id": "klaar", "end": None},
        ],
    }
)


def test_every_step_is_a_node_with_its_kind_id_and_detail() -> None:
    lines = to_mermaid(FLOW).splitlines()
    assert lines[0] == "flowchart TD"
    assert '    s1["fase stap-1: Casusbespreking (25m)"]' in lines
    assert '    s3{"keuze kies"}' in lines
    assert '    s4["wacht wacht: 2h"]' in lines
    assert '    END(["einde"])' in lines


def test_quotes_and_markup_in_labels_are_escaped_for_mermaid() -> None:
    label = next(line for line in to_mermaid(FLOW).splitlines() if line.startswith("    s0["))
    assert label == '    s0["bericht start: Zeg #quot;hallo#quot; #lt;b#gt;#35;1#lt;/b#gt;"]'


def test_branch_cases_and_the_way_on_without_otherwise_are_labelled_edges() -> None:
    lines = to_mermaid(FLOW).splitlines()
    assert '    s3 -->|"hoe ≥ 4 (iedereen)"| s5' in lines
    assert '    s3 -->|"hoe ≤ 1 of hoe niet beantwoord"| s1' in lines
    assert '    s3 -->|"anders"| s4' in lines
    assert "    s4 --> s5" in lines
    assert "    s5 --> END" in lines


def test_labels_follow_the_language_asked_for() -> None:
    text = to_mermaid(FLOW, "en")
    assert '    s1["phase stap-1: Case (25m)"]' in text.splitlines()
    assert '|"otherwise"|' in text
