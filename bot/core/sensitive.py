"""Spotting free text that looks like it identifies someone: a name, a BSN, an e-mail
address or a phone number.

Pure and cautious: it only decides whether to warn, never what to store. A BSN (Dutch
citizen service number) is nine digits, possibly written in groups, that pass the
eleven-test. A name is a form of address followed by a capitalised word ("mevrouw
Jansen", "dhr. De Vries"), or two or more capitalised words in a row inside a sentence
("Jan de Vries", "Fatima El Amrani"); well-known words (weekdays, months, Samen's own
vocabulary) and words in capitals (GGZ, MDO) do not count. An e-mail address is
something@domain.tld; a phone number is a Dutch or Belgian one (0 and 8 or 9 digits, or
+31/+32 and 8 or 9), possibly written in groups.
False alarms cost one extra message; the person can send the answer again to keep it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final


class Finding(StrEnum):
    bsn = "bsn"
    name = "name"
    email = "email"
    phone = "phone"


_EMAIL: Final = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
_PHONE: Final = re.compile(
    r"(?<![\d+])(?:(?:\+|00)3[12][\s.-]?(?:\(0\)[\s.-]?)?[1-9]|0[1-9])(?:[\s.-]?\d){7,8}(?![\d])"
)


_BSN_CANDIDATE: Final = re.compile(r"(?<![\d])(\d(?:[ .-]?\d){8})(?![\d])")
_TITLES: Final = (
    r"(?i:mevrouw|mevr\.?|mw\.?|meneer|mnr\.?|dhr\.?|de heer|mr\.?|mrs\.?|ms\.?|miss|"
    r"cliënt|client|patiënt|patient|mijnheer)"
)
_TITLED_NAME: Final = re.compile(rf"\b{_TITLES}\s+(?:(?:van|de|der|den|el|al|ter|ten)\s+)*[A-Z]\w+")
_CAPITALISED: Final = re.compile(r"^[A-ZÀ-Ý][a-zà-ÿ'’-]+$")
_PARTICLES: Final = frozenset({"van", "de", "der", "den", "el", "al", "ter", "ten", "le", "la"})
_COMMON: Final = frozenset(
    {
        # weekdays and months, nl and en
        *["maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"],
        *["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
        *[
            "januari",
            "februari",
            "maart",
            "april",
            "mei",
            "juni",
            "juli",
            "augustus",
            "september",
            "oktober",
        ],
        *[
            "november",
            "december",
            "january",
            "february",
            "march",
            "may",
            "june",
            "july",
            "august",
            "october",
        ],
        # words of the care team's world that are often capitalised
        *[
            "samen",
            "intervisie",
            "mdo",
            "team",
            "teams",
            "slack",
            "telegram",
            "ik",
            "we",
            "wij",
            "jij",
            "je",
        ],
        *["nederland", "vlaanderen", "belgië", "amsterdam", "rotterdam", "utrecht", "den", "haag"],
    }
)


def passes_eleven_test(digits: str) -> bool:
    """The BSN eleven-test: 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 is a positive multiple of 11."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    total = sum(int(d) * w for d, w in zip(digits, weights, strict=True))
    return total > 0 and total % 11 == 0


def find_bsn(text: str) -> bool:
    return any(
        passes_eleven_test(re.sub(r"\D", "", match.group(1)))
        for match in _BSN_CANDIDATE.finditer(text)
    )


def find_name(text: str) -> bool:
    if _TITLED_NAME.search(text):
        return True
    for sentence in re.split(r"[.!?\n;:]+", text):
        words = re.findall(r"[\wÀ-ÿ'’-]+", sentence)
        run = 0
        for word in words:
            if _CAPITALISED.match(word) and word.lower() not in _COMMON:
                run += 1
                if run >= 2:
                    return True
            elif word.lower() in _PARTICLES and run:
                continue  # "Jan de Vries": the particle keeps the name going
            else:
                run = 0
    return False


def find_email(text: str) -> bool:
    return _EMAIL.search(text) is not None


def find_phone(text: str) -> bool:
    return _PHONE.search(text) is not None


def sensitive(text: str) -> tuple[Finding, ...]:
    """What in `text` looks like it identifies a person (empty: nothing)."""
    found: list[Finding] = []
    if find_bsn(text):
        found.append(Finding.bsn)
    if find_name(text):
        found.append(Finding.name)
    if find_email(text):
        found.append(Finding.email)
    if find_phone(text):
        found.append(Finding.phone)
    return tuple(found)


# --------------------------------------------------------------------------- pseudonyms

# A client code a professional chooses: short, letters, digits and . _ - (R-PRV-1).
_PSEUDONYM: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,31}")
# One capitalised word ("Jansen") reads as a surname, not as a code.
_NAME_LIKE: Final = re.compile(r"[A-ZÀ-Ý][a-zà-ÿ]+(?:[-'][A-Za-zÀ-ÿ]+)*")


class PseudonymProblem(StrEnum):
    not_a_code = "not_a_code"  # not a short code at all
    identifying = "identifying"  # looks like a name, or is a BSN


def pseudonym_problem(code: str) -> PseudonymProblem | None:
    """None when `code` can stand for a client (visits, trajectories), else why not.
    A code holds a digit: letters alone may be a name, also in lower case ("jansen")."""
    if not _PSEUDONYM.fullmatch(code):
        return PseudonymProblem.not_a_code
    if _NAME_LIKE.fullmatch(code) or find_bsn(code) or find_phone(code):
        return PseudonymProblem.identifying
    if not any(c.isdigit() for c in code):
        return PseudonymProblem.identifying
    return None
