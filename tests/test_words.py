"""Every sentence Samen can say, in every language, read for known-bad patterns (issue 20).

Two sources: every catalogue text (the engine's, the runtime's replies, the trajectories'
texts) filled in with sample values that end a sentence themselves and with counts of
one, and everything the shipped flows say when their flow tests are played in Dutch,
Flemish and English. A pattern found fails the test with the key or the line it is in.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from bot.core import i18n
from bot.core.flowtest import run_test_file
from bot.core.loader import read_yaml
from bot.flowfiles import find_test_files, load_flows
from bot.runtime.replies import REPLIES, pick
from bot.trajectories.texts import TEXTS

ROOT = Path(__file__).resolve().parent.parent
FLOWS = load_flows([ROOT / "flows"]).flows
LANGUAGES = ("nl", "nl-BE", "en")

# In every language.
BAD_EVERYWHERE = {
    "doubled punctuation": re.compile(r"[?!][.;]|(?<![.])\.\.(?![.])| [,.;:](?!\S)"),
    "a placeholder left": re.compile(r"\{[a-z_]+\}"),
    "a count of one with a plural": re.compile(
        r"(?<![\d.,])\b1 (sessies|sessions|minuten|minutes|dagen|days|weken|weeks|mensen|"
        r"people|vragen|questions|antwoorden|answers|maanden|months)\b"
    ),
    "Python's None": re.compile(r"\bNone\b"),
}
# In a Dutch text: internal ids, setting keys and English.
BAD_IN_DUTCH = {
    "a setting key": re.compile(r"\b(work_days|work_start|work_end|language =|address =)"),
    "a role id": re.compile(r"rol(len)?:? (chair|coordinator|member)\b"),
    "English": re.compile(r"\b(must be|should be|the|please|answer|not allowed)\b"),
    "patient without its diaeresis": re.compile(r"\b[Pp]atient"),
    "<answer>": re.compile(r"<answer>"),
}
# In an English text: Dutch.
BAD_IN_ENGLISH = {
    "Dutch": re.compile(
        r"\b(je|jij|jouw|niet|bewerkt|gesloten|antwoord|vraag|vragen|mag je|"
        r"overslaan|alleen voor|en de|van de)\b"
    ),
    "(bewerkt)": re.compile(r"bewerkt"),
}

# Placeholders that carry a count get 1, the rest a value that ends a sentence itself.
COUNTS = {"n", "count", "sessions", "minutes", "max", "min", "budget", "every", "hours", "days"}


def _problems(sentence: str, language: str, typed: str = "") -> list[str]:
    """The rules `sentence` breaks; `typed` is the part people wrote (answers), read for
    the rules of every language but not for the language's own."""
    found = [name for name, rule in BAD_EVERYWHERE.items() if rule.search(sentence)]
    rules = BAD_IN_ENGLISH if language.startswith("en") else BAD_IN_DUTCH
    ours = "\n".join(line for line in sentence.splitlines() if line not in typed.splitlines())
    return found + [name for name, rule in rules.items() if rule.search(ours)]


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _samples(key: str, template: str, language: str) -> dict[str, object]:
    sentence_end = "Wat neem je mee?" if not language.startswith("en") else "What now?"
    one = 2 if key.endswith((".many", ".zero")) else 1  # those are said for other counts
    return {f: one if f in COUNTS else sentence_end for f in _fields(template)}


def _catalogue_sentences() -> Iterator[tuple[str, str, str]]:
    """(where, language, sentence) for every catalogue text, filled in."""
    for key, entry in i18n.CATALOGUE.items():
        for variant, template in entry.items():
            language, _, address = variant.partition("@")
            params = _samples(key, template, language)
            yield (
                f"i18n {key} [{variant}]",
                language,
                i18n.t(key, language, address or "je", **params),
            )
    for name, catalogue in (("replies", REPLIES), ("trajectories", TEXTS)):
        for key, entry in catalogue.items():
            for language, template in entry.items():
                params = _samples(key, template, language)
                yield (
                    f"{name} {key} [{language}]",
                    language,
                    pick(_one(catalogue, key, language), key, language, **params),
                )


def _one(catalogue: Mapping[str, Mapping[str, str]], key: str, language: str) -> dict:  # type: ignore[type-arg]
    return {key: {language: catalogue[key][language]}}


CATALOGUE = list(_catalogue_sentences())

# Sentences that rightly hold a pattern, with why.
ALLOWED: dict[str, str] = {
    "replies help [en]": "names the Dutch forms of address, je and u, as typed",
    "replies setting_bad.address [en]": "names the Dutch forms of address, je and u",
}


@pytest.mark.parametrize(
    ("where", "language", "sentence"), CATALOGUE, ids=[c[0] for c in CATALOGUE]
)
def test_every_catalogue_text_reads_clean(where: str, language: str, sentence: str) -> None:
    if where in ALLOWED:
        return
    assert _problems(sentence, language) == [], sentence


def _answers(text: str) -> str:
    """The lines of a message that show what people answered: a summary's bullets."""
    return "\n".join(line for line in text.splitlines() if line.startswith("• "))


def _flow_lines() -> Iterator[tuple[str, str, str, str]]:
    for path in find_test_files([ROOT / "flows"]):
        data, _, _ = read_yaml(path.read_text(encoding="utf-8"), str(path))
        assert isinstance(data, dict)
        for language in LANGUAGES:
            team = dict(data.get("team") or {}, language=language)
            result = run_test_file({**data, "team": team}, str(path), FLOWS)
            for case in result.cases:
                for line in case.transcript:
                    where = f"{path.name} [{language}] {line.flow} → {line.to}"
                    yield where, language, line.text, _answers(line.text)


FLOW_LINES = sorted(set(_flow_lines()))


@pytest.mark.parametrize(
    ("where", "language", "sentence", "typed"), FLOW_LINES, ids=[f[0] for f in FLOW_LINES]
)
def test_everything_the_shipped_flows_say_reads_clean(
    where: str, language: str, sentence: str, typed: str
) -> None:
    assert _problems(sentence, language, typed) == [], sentence


@pytest.mark.parametrize(
    ("filled", "reads"),
    [
        ("🔔 De tijd is om: In tweetallen — wat gebeurt er bij jezelf?.", "bij jezelf?"),
        ("wat willen we nog bereiken?; daarna", "bereiken? daarna"),
        ("na 1 sessies", "na 1 sessie"),
        ("na 11 sessies", "na 11 sessies"),
        ("Wacht even...", "Wacht even..."),
    ],
)
def test_a_filled_in_sentence_is_tidied(filled: str, reads: str) -> None:
    assert reads in i18n.tidy(filled)
