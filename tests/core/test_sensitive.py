"""The detector of names and BSNs in free text (bot/core/sensitive.py)."""

from __future__ import annotations

import pytest

from bot.core.sensitive import Finding, passes_eleven_test, sensitive


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("111222333", True),  # the classic test number
        ("123456782", True),
        ("123456789", False),
        ("000000000", False),  # sums to 0: not a BSN
        ("12345678", False),
        ("12345678a", False),
    ],
)
def test_the_eleven_test(digits: str, valid: bool) -> None:
    assert passes_eleven_test(digits) is valid


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Haar BSN is 123456782, graag checken", (Finding.bsn,)),
        ("bsn 123.456.782", (Finding.bsn,)),
        ("bsn 123 45 67 82", (Finding.bsn,)),
        ("telefoon 0612345678 en 123456789", (Finding.phone,)),  # a phone; no BSN
        ("Vanmiddag gesproken met mevrouw Jansen over de dagbesteding", (Finding.name,)),
        ("dhr. de Vries was er niet", (Finding.name,)),
        ("Jan de Vries belde terug", (Finding.name,)),
        ("ik vond het gesprek met Fatima El Amrani lastig", (Finding.name,)),
        ("Goed gesprek gehad, volgende week verder", ()),
        ("Op Maandag November overleg in het MDO met de GGZ", ()),
        ("Nieuwsgierig", ()),
        ("Mevrouw Jansen, bsn 111222333", (Finding.bsn, Finding.name)),
    ],
)
def test_names_and_bsns_are_spotted_and_ordinary_text_is_left_alone(
    text: str, found: tuple[Finding, ...]
) -> None:
    assert sensitive(text) == found
