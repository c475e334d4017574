"""Splitting a long message over several parts: never cut, every line kept."""

from __future__ import annotations

import pytest

from bot.core.split import split_text


def _summary(answers: int) -> str:
    blocks = ["📋 Samenvatting"]
    for q in range(1, 8):
        lines = [f"Vraag {q}: hoe ging het gesprek en wat deed het met jullie?"]
        lines += [f"• Collega {n}: antwoord {q}.{n} " + "woord " * 30 for n in range(answers)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


@pytest.mark.parametrize("limit", [4096, 3000, 500])
def test_a_long_summary_is_split_between_paragraphs_and_nothing_is_lost(limit: int) -> None:
    text = _summary(12)
    assert len(text) > 4096
    parts = split_text(text, limit)
    assert len(parts) > 1 and all(len(p) <= limit for p in parts)
    assert all(p.endswith(f"({n}/{len(parts)})") for n, p in enumerate(parts, 1))
    body = "\n".join(p.rsplit("\n", 1)[0] for p in parts)
    for line in text.splitlines():
        if line.strip():
            assert line.strip() in body, line  # every answer arrives, whole
    assert parts[0].startswith("📋 Samenvatting")


def test_a_short_message_stays_one_and_a_huge_word_is_cut_inside() -> None:
    assert split_text("Kort.", 4096) == ["Kort."]
    parts = split_text("x" * 10_000, 4096)
    assert all(len(p) <= 4096 for p in parts)
    assert "".join(p.rsplit("\n", 1)[0] for p in parts) == "x" * 10_000
