"""The system catalogue: every sentence the engine itself says, in Dutch and English.

Flow authors write their own texts per language in the flow; this module holds what Samen
says around them — bells, warnings, reminders, refusals, re-prompts, summary headings.
Dutch is the default and speaks in the "je" form; a team set to address people with "u"
gets the "u" variant where one exists (keys ending in `@u`). A language is looked up
exactly, then by its base (`nl-BE` → `nl`), then in Dutch, so a sentence is never missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Final

DEFAULT: Final = "nl"

# key -> {language or language@u: text}. Placeholders use str.format names.
CATALOGUE: Final[Mapping[str, Mapping[str, str]]] = {
    # ---------------------------------------------------------------- phases and bells
    "agenda.evaluations": {
        "nl": "Aan de beurt (per code):",
        "en": "Due (by code):",
    },
    "agenda.evaluations.none": {
        "nl": "Er zijn vandaag geen evaluaties aan de beurt.",
        "en": "No evaluations are due today.",
    },
    "phase.header": {
        "nl": "⏱ {title} — {duration}, tot {end}",
        "en": "⏱ {title} — {duration}, until {end}",
    },
    "phase.paused": {
        "nl": "⏸ De klok staat stil; er is nog {remaining} over.",
        "en": "⏸ The clock is paused; {remaining} left.",
    },
    "phase.resumed": {
        "nl": "▶ De klok loopt weer; deze stap eindigt om {end}.",
        "en": "▶ The clock runs again; this step ends at {end}.",
    },
    "phase.extended": {
        "nl": "➕ {minutes} erbij; deze stap eindigt nu om {end}.",
        "en": "➕ {minutes} more; this step now ends at {end}.",
    },
    "phase.extended_paused": {
        "nl": "➕ {minutes} erbij; de klok staat nog stil, er is {remaining} over.",
        "en": "➕ {minutes} more; the clock is still paused, {remaining} left.",
    },
    "phase.warning": {
        "nl": "⏳ Nog {minutes}.",
        "en": "⏳ {minutes} left.",
    },
    "phase.bell": {
        "nl": "🔔 De tijd is om: {title}.",
        "en": "🔔 Time is up: {title}.",
    },
    "phase.next": {
        "nl": "🔔 {title} is afgerond; we gaan verder.",
        "en": "🔔 {title} is closed; moving on.",
    },
    "phase.all_answered": {
        "nl": "🔔 Iedereen heeft geantwoord: {title} is afgerond; we gaan verder.",
        "en": "🔔 Everyone has answered: {title} is closed; moving on.",
    },
    "phase.time_up_chair": {
        "nl": "De tijd van {title} is om. Typ /bel volgende om verder te gaan, "
        "of /bel +5 voor meer tijd.",
        "nl@u": "De tijd van {title} is om. Typt u /bel volgende om verder te gaan, "
        "of /bel +5 voor meer tijd.",
        "en": "Time is up for {title}. Type /bel next to go on, or /bel +5 for more time.",
    },
    "phase.bell_late": {
        "nl": "De bel van {title} kwam te laat en is niet geluid; de volgende stap is begonnen.",
        "en": "The bell for {title} came too late and was not rung; the next step has begun.",
    },
    "bell.manual": {
        "nl": "🔔 De bel.",
        "en": "🔔 The bell.",
    },
    "bell.process": {
        "nl": "🔔 Procesbel — iemand vraagt om even stil te staan bij hoe het gesprek loopt.",
        "en": "🔔 Process bell — someone asks to pause on how the conversation is going.",
    },
    "bell.time_out": {
        "nl": "⏸ Time-out — iemand vraagt om het spel even neer te leggen. "
        "De klok staat stil tot de time-out voorbij is.",
        "en": "⏸ Time-out — someone asks to put the game down for a moment. "
        "The clock is paused until the time-out is over.",
    },
    # ---------------------------------------------------------------- the run as a whole
    "run.stopped": {
        "nl": "⏹ {title} is beëindigd.",
        "en": "⏹ {title} has been ended.",
    },
    "run.stopped_loop": {
        "nl": "⏹ {title} is gestopt: de stappen bleven rondgaan zonder te wachten. "
        "Laat de flow nakijken.",
        "en": "⏹ {title} was stopped: its steps kept going round without waiting. "
        "Please have the flow checked.",
    },
    "run.stopped_broken": {
        "nl": "⏹ {title} is gestopt: de stap '{step}' bestaat niet. Laat de flow nakijken.",
        "en": "⏹ {title} was stopped: there is no step '{step}'. Please have the flow checked.",
    },
    # ---------------------------------------------------------------- replies to one person
    "reply.ended": {
        "nl": "{title} is al afgelopen; hier verandert niets meer.",
        "en": "{title} has ended; nothing changes any more.",
    },
    "reply.already_handled": {
        "nl": "Dit is al afgehandeld.",
        "en": "This has already been handled.",
    },
    "reply.closed": {
        "nl": "Deze vraag is gesloten; je antwoord is niet opgeslagen.",
        "nl@u": "Deze vraag is gesloten; uw antwoord is niet opgeslagen.",
        "en": "This question is closed; your answer was not stored.",
    },
    "reply.not_open": {
        "nl": "Deze vraag staat nu niet open.",
        "en": "This question is not open right now.",
    },
    "reply.not_asked": {
        "nl": "Deze vraag is niet aan jou gesteld.",
        "nl@u": "Deze vraag is niet aan u gesteld.",
        "en": "This question was not asked of you.",
    },
    "reply.not_your_turn": {
        "nl": "Je bent nog niet aan de beurt.",
        "nl@u": "U bent nog niet aan de beurt.",
        "en": "It is not your turn yet.",
    },
    "reply.not_member": {
        "nl": "Je doet niet mee aan {title}.",
        "nl@u": "U doet niet mee aan {title}.",
        "en": "You are not taking part in {title}.",
    },
    "reply.no_timebox": {
        "nl": "Er loopt nu geen tijdvak; pauzeren, verdergaan en verlengen kan alleen "
        "tijdens een fase.",
        "en": "No time box is running; pause, resume and extend work only during a phase.",
    },
    "reply.not_paused": {
        "nl": "De klok loopt al.",
        "en": "The clock is already running.",
    },
    "reply.already_paused": {
        "nl": "De klok staat al stil. Typ /bel verder om door te gaan.",
        "nl@u": "De klok staat al stil. Typt u /bel verder om door te gaan.",
        "en": "The clock is already paused. Type /bel resume to go on.",
    },
    "reply.time_up": {
        "nl": "De tijd van deze stap is al om. Typ /bel volgende om verder te gaan, "
        "of /bel +5 voor meer tijd.",
        "nl@u": "De tijd van deze stap is al om. Typt u /bel volgende om verder te gaan, "
        "of /bel +5 voor meer tijd.",
        "en": "Time is already up for this step. Type /bel next to go on, "
        "or /bel +5 for more time.",
    },
    "reply.extend_invalid": {
        "nl": "Verlengen kan met 1 tot {max} minuten, bijvoorbeeld /bel +5.",
        "en": "You can extend by 1 to {max} minutes, for example /bel +5.",
    },
    "refused.bell": {
        "nl": "Alleen wie de rol {roles} heeft, kan de bel bedienen.",
        "en": "Only someone with the role {roles} can work the bell.",
    },
    "refused.process": {
        "nl": "Alleen wie de rol {roles} heeft, kan de procesbel luiden.",
        "en": "Only someone with the role {roles} can ring the process bell.",
    },
    "refused.start": {
        "nl": "Alleen wie de rol {roles} heeft, kan {title} starten.",
        "en": "Only someone with the role {roles} can start {title}.",
    },
    # ---------------------------------------------------------------- forms and reminders
    "deadline.short_notice": {
        "nl": "⏳ Het begint al om {at}: de vragen sluiten daarom om {when}, zodat het "
        "overzicht er is voordat jullie gaan.",
        "nl@u": "⏳ Het begint al om {at}: de vragen sluiten daarom om {when}, zodat het "
        "overzicht er is voordat u gaat.",
        "en": "⏳ It starts at {at} already: the questions therefore close at {when}, so "
        "that the overview is there before you go.",
    },
    "deadline.too_little_time": {
        "nl": "⏳ Het begint al om {at}: te weinig tijd om eerst alle antwoorden te "
        "verzamelen. De vragen blijven open tot {at}; wat er dan is, komt in het overzicht.",
        "en": "⏳ It starts at {at} already: too little time to gather the answers first. "
        "The questions stay open until {at}; what is in by then goes into the overview.",
    },
    "deadline.event_begun": {
        "nl": "⏳ Het is om {at} al begonnen: de vragen voor daarvoor sla ik over.",
        "en": "⏳ It began at {at} already: I skip the questions meant for before it.",
    },
    "form.deadline": {
        "nl": "Graag beantwoorden vóór {when}.",
        "en": "Please answer before {when}.",
    },
    "form.your_turn": {
        "nl": "Je bent aan de beurt.",
        "nl@u": "U bent aan de beurt.",
        "en": "It is your turn.",
    },
    "form.optional": {
        "nl": "(mag je overslaan)",
        "nl@u": "(mag u overslaan)",
        "en": "(optional)",
    },
    "form.closed": {
        "nl": "Deze vragen zijn gesloten.",
        "en": "These questions are closed.",
    },
    "reminder": {
        "nl": "Herinnering: je hebt de vragen nog niet (helemaal) beantwoord. "
        "Ze sluiten op {when}.",
        "nl@u": "Herinnering: u hebt de vragen nog niet (helemaal) beantwoord. "
        "Ze sluiten op {when}.",
        "en": "Reminder: you have not answered (all) the questions yet. They close on {when}.",
    },
    "when": {
        "nl": "{weekday} {day}-{month} om {time}",
        "en": "{weekday} {day}/{month} at {time}",
    },
    # ---------------------------------------------------------------- how to answer
    # One sentence per answer type, shown under a question and repeated when an answer
    # does not fit (bot/core/hints.py), so that hints and refusals use the same words.
    "hint.scale": {
        "nl": "Antwoord met een getal van {low} tot {high}.",
        "en": "Answer with a number from {low} to {high}.",
    },
    "hint.choice": {
        "nl": "Kies één: {options} (het nummer, of het begin van het woord).",
        "en": "Choose one: {options} (its number, or the start of the word).",
    },
    "hint.multi": {
        "nl": "Kies een of meer: {options} (nummers of woorden, gescheiden door komma's, "
        "puntkomma's of 'en').",
        "en": "Choose one or more: {options} (numbers or words, separated by commas, "
        "semicolons or 'and').",
    },
    "hint.people": {
        "nl": "Kies een of meer collega's: {options} (nummer, naam of @naam, gescheiden "
        "door komma's, puntkomma's of 'en').",
        "en": "Choose one or more colleagues: {options} (number, name or @name, separated "
        "by commas, semicolons or 'and').",
    },
    "hint.yesno": {"nl": "Antwoord met ja of nee.", "en": "Answer yes or no."},
    "hint.date": {
        "nl": "Antwoord met een datum: dag-maand-jaar (dd-mm-jjjj) of jjjj-mm-dd.",
        "en": "Answer with a date: yyyy-mm-dd or day-month-year (dd-mm-yyyy).",
    },
    "hint.number": {"nl": "Antwoord met een getal.", "en": "Answer with a number."},
    "hint.number_range": {
        "nl": "Antwoord met een getal van {min} tot {max}.",
        "en": "Answer with a number from {min} to {max}.",
    },
    "hint.number_min": {
        "nl": "Antwoord met een getal van minstens {min}.",
        "en": "Answer with a number of at least {min}.",
    },
    "hint.number_max": {
        "nl": "Antwoord met een getal van hoogstens {max}.",
        "en": "Answer with a number of at most {max}.",
    },
    "hint.text": {"nl": "Antwoord in een paar woorden.", "en": "Answer in a few words."},
    "hint.skip": {
        "nl": "Overslaan: typ - (of overslaan).",
        "en": "To skip it, type - (or skip).",
    },
    "hint.not_applicable": {
        "nl": "Niet van toepassing: typ nvt.",
        "en": "Not applicable: type n/a.",
    },
    "hint.done": {
        "nl": "Klaar met de vragen die je wilt beantwoorden? Typ klaar.",
        "nl@u": "Klaar met de vragen die u wilt beantwoorden? Typ klaar.",
        "en": "Answered all you want to? Type done.",
    },
    # ---------------------------------------------------------------- the console's forms
    "console.answer": {
        "nl": "↳ Antwoorden: /a <nummer> <antwoord>, bijvoorbeeld /a 1 …",
        "en": "↳ To answer: /a <number> <answer>, for example /a 1 …",
    },
    "console.answer_named": {
        "nl": "↳ Dit is formulier {letter}; ook {others} staat nog open. /a <nummer> "
        "<antwoord> gaat naar het nieuwste formulier, nu dit. Voor een ander zet je de "
        "letter voor het nummer: /a {other}1 …",
        "nl@u": "↳ Dit is formulier {letter}; ook {others} staat nog open. /a <nummer> "
        "<antwoord> gaat naar het nieuwste formulier, nu dit. Voor een ander zet u de "
        "letter voor het nummer: /a {other}1 …",
        "en": "↳ This is form {letter}; {others} is open too. /a <number> <answer> goes to "
        "the newest form, now this one. For another, put its letter before the number: "
        "/a {other}1 …",
    },
    "console.question": {"nl": "  {n}. {hint}", "en": "  {n}. {hint}"},
    "console.done": {
        "nl": "↳ Klaar met wat je wilt beantwoorden? Typ /a klaar.",
        "nl@u": "↳ Klaar met wat u wilt beantwoorden? Typ /a klaar.",
        "en": "↳ Answered all you want to? Type /a done.",
    },
    "console.which": {
        "nl": "Geef het nummer van een vraag uit {form}, bijvoorbeeld /a 1 ja.",
        "en": "Give the number of a question in {form}, for example /a 1 yes.",
    },
    "console.which_form": {
        "nl": "formulier {letter} (1 tot {last})",
        "en": "form {letter} (1 to {last})",
    },
    "console.no_form": {
        "nl": "Er staat voor jou geen formulier open.",
        "nl@u": "Er staat voor u geen formulier open.",
        "en": "You have no open form.",
    },
    "console.unknown_form": {
        "nl": "Formulier {letter} staat niet open; open: {open}.",
        "en": "Form {letter} is not open; open: {open}.",
    },
    "console.edited": {"nl": " (bewerkt)", "en": " (edited)"},
    "console.closed": {"nl": "(gesloten)", "en": "(closed)"},
    "console.progress": {"nl": "antwoorden: {marks}", "en": "answers: {marks}"},
    "console.only_for": {"nl": "alleen voor {who}", "en": "only for {who}"},
    "console.thread": {"nl": "draad", "en": "thread"},
    # ---------------------------------------------------------------- /samen open
    "open.none": {
        "nl": "Je hebt geen openstaande vragen.",
        "nl@u": "U hebt geen openstaande vragen.",
        "en": "You have no open questions.",
    },
    "open.title": {
        "nl": "Je openstaande vragen (de nummers van het formulier):",
        "nl@u": "Uw openstaande vragen (de nummers van het formulier):",
        "en": "Your open questions (the numbers in the form):",
    },
    "open.required.one": {"nl": "vraag {numbers}", "en": "question {numbers}"},
    "open.required.many": {"nl": "vragen {numbers}", "en": "questions {numbers}"},
    "open.optional": {
        "nl": "mag je overslaan: {numbers}",
        "nl@u": "mag u overslaan: {numbers}",
        "en": "optional: {numbers}",
    },
    "open.closes": {"nl": "(sluit {when})", "en": "(closes {when})"},
    "reply.done_missing": {
        "nl": "Er staan nog vragen open die je niet kunt overslaan: {numbers}.",
        "nl@u": "Er staan nog vragen open die u niet kunt overslaan: {numbers}.",
        "en": "Some questions that cannot be skipped are still open: {numbers}.",
    },
    "reply.done_nothing": {
        "nl": "Deze vraag staat nog open; beantwoord hem, of laat hem open.",
        "en": "This question is still open; answer it, or leave it open.",
    },
    "reply.done": {
        "nl": "Dank je, je deel is klaar.",
        "nl@u": "Dank u, uw deel is klaar.",
        "en": "Thank you, your part is done.",
    },
    # ---------------------------------------------------------------- re-prompts per type
    "prompt.text_empty": {
        "nl": "Je antwoord is leeg; schrijf een paar woorden.",
        "nl@u": "Uw antwoord is leeg; schrijft u een paar woorden.",
        "en": "Your answer is empty; please write a few words.",
    },
    "prompt.text_long": {
        "nl": "Je antwoord is te lang; houd het onder de {max} tekens.",
        "nl@u": "Uw antwoord is te lang; houdt u het onder de {max} tekens.",
        "en": "Your answer is too long; keep it under {max} characters.",
    },
    "prompt.choice": {
        "nl": "Kies één van: {options}.",
        "en": "Choose one of: {options}.",
    },
    "prompt.multi": {
        "nl": "Kies een of meer van: {options}.",
        "en": "Choose one or more of: {options}.",
    },
    "prompt.scale": {
        "nl": "Kies een getal van {min} tot {max}.",
        "en": "Choose a number from {min} to {max}.",
    },
    "prompt.yesno": {
        "nl": "Antwoord met ja of nee.",
        "en": "Answer yes or no.",
    },
    "prompt.date": {
        "nl": "Schrijf een datum als 1-12-2026 of 2026-12-01.",
        "en": "Write a date like 2026-12-01 or 1-12-2026.",
    },
    "prompt.date_impossible": {
        "nl": "{date} bestaat niet; kijk de dag en de maand nog eens na.",
        "en": "{date} does not exist; please check the day and the month.",
    },
    "prompt.number": {
        "nl": "Schrijf een getal.",
        "en": "Write a number.",
    },
    "prompt.number_range": {
        "nl": "Schrijf een getal van {min} tot {max}.",
        "en": "Write a number from {min} to {max}.",
    },
    "prompt.number_min": {
        "nl": "Schrijf een getal van minstens {min}.",
        "en": "Write a number of at least {min}.",
    },
    "prompt.number_max": {
        "nl": "Schrijf een getal van hoogstens {max}.",
        "en": "Write a number of at most {max}.",
    },
    "prompt.people": {
        "nl": "Kies een of meer mensen uit het team: {names}.",
        "en": "Choose one or more people from the team: {names}.",
    },
    "prompt.no_skip": {
        "nl": "Deze vraag kun je niet overslaan.",
        "nl@u": "Deze vraag kunt u niet overslaan.",
        "en": "This question cannot be skipped.",
    },
    "prompt.no_na": {
        "nl": "'n.v.t.' is bij deze vraag geen antwoord.",
        "en": "'n/a' is not an answer to this question.",
    },
    # ---------------------------------------------------------------- summaries
    "summary.title": {"nl": "Samenvatting", "en": "Summary"},
    "summary.no_answers": {"nl": "nog geen antwoorden", "en": "no answers yet"},
    "summary.answered": {"nl": "beantwoord", "en": "answered"},
    "summary.hidden": {
        "nl": "(de antwoorden zelf blijven buiten de chat)",
        "en": "(the answers themselves stay out of the chat)",
    },
    "summary.divergent": {"nl": "Verschillend: {values}", "en": "Answers differ: {values}"},
    "summary.missing": {
        "nl": "Nog niet (helemaal) geantwoord: {names}",
        "en": "Not (fully) answered: {names}",
    },
    "summary.missing_count.one": {
        "nl": "1 persoon heeft nog niet (helemaal) geantwoord.",
        "en": "1 person has not (fully) answered.",
    },
    "summary.missing_count.many": {
        "nl": "{n} mensen hebben nog niet (helemaal) geantwoord.",
        "en": "{n} people have not (fully) answered.",
    },
    "summary.absent": {"nl": "Afwezig: {names}", "en": "Absent: {names}"},
    "summary.left": {
        "nl": "Niet meer in het team: {names}",
        "en": "No longer in the team: {names}",
    },
    "summary.process_bells.zero": {
        "nl": "De procesbel is niet geluid.",
        "en": "The process bell was not rung.",
    },
    "summary.process_bells.one": {
        "nl": "De procesbel is 1 keer geluid.",
        "en": "The process bell was rung once.",
    },
    "summary.process_bells.many": {
        "nl": "De procesbel is {n} keer geluid.",
        "en": "The process bell was rung {n} times.",
    },
    "summary.template_error": {
        "nl": "(Het sjabloon van deze samenvatting werkte niet; dit is de gewone weergave.)",
        "en": "(This summary's template did not work; this is the standard layout.)",
    },
    "summary.too_few_anonymous": {
        "nl": "te weinig antwoorden om anoniem te tonen (dat kan vanaf {n})",
        "en": "too few answers to show anonymously (that takes {n} or more)",
    },
    "round.too_few_anonymous": {
        "nl": "Op '{question}' kwamen te weinig antwoorden om ze anoniem te tonen"
        " (dat kan vanaf {n}).",
        "en": "Too few answers came to '{question}' to show them anonymously"
        " (that takes {n} or more).",
    },
    "round.anonymous": {
        "nl": "De antwoorden op '{question}':",
        "en": "The answers to '{question}':",
    },
    # ---------------------------------------------------------------- small words
    "answer.skipped": {"nl": "overgeslagen", "en": "skipped"},
    "answer.not_applicable": {"nl": "n.v.t.", "en": "n/a"},
    "answer.yes": {"nl": "ja", "en": "yes"},
    "answer.no": {"nl": "nee", "en": "no"},
    "answers.one": {"nl": "1 antwoord", "en": "1 answer"},
    "answers.many": {"nl": "{n} antwoorden", "en": "{n} answers"},
    "minutes.one": {"nl": "1 minuut", "en": "1 minute"},
    "minutes.many": {"nl": "{n} minuten", "en": "{n} minutes"},
    "list.and": {"nl": " en ", "en": " and "},
    "list.or": {"nl": " of ", "en": " or "},
    "role.chair": {"nl": "voorzitter", "en": "chair"},
    "role.member": {"nl": "teamlid", "en": "team member"},
    "role.coordinator": {"nl": "coördinator", "en": "coordinator"},
    "role.presenter": {"nl": "inbrenger", "en": "presenter"},
    "role.participant": {"nl": "deelnemer", "en": "participant"},
    "weekday.0": {"nl": "ma", "en": "Mon"},
    "weekday.1": {"nl": "di", "en": "Tue"},
    "weekday.2": {"nl": "wo", "en": "Wed"},
    "weekday.3": {"nl": "do", "en": "Thu"},
    "weekday.4": {"nl": "vr", "en": "Fri"},
    "weekday.5": {"nl": "za", "en": "Sat"},
    "weekday.6": {"nl": "zo", "en": "Sun"},
}


@lru_cache(maxsize=256)
def languages_to_try(language: str) -> tuple[str, ...]:
    """`nl-BE` → (`nl-BE`, `nl`); `en` → (`en`, `nl`): exact, then base, then Dutch."""
    chain = [language]
    base = language.split("-", 1)[0]
    if base != language:
        chain.append(base)
    if DEFAULT not in chain:
        chain.append(DEFAULT)
    return tuple(chain)


class _Keep(dict[str, object]):
    """A missing placeholder stays visible as `{name}` instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def t(key: str, language: str = DEFAULT, address: str = "je", **params: object) -> str:
    """The catalogue sentence `key` in `language` (with the "u" form when asked), filled in.

    An unknown key is returned as itself, so that a missing sentence shows up in a test
    rather than crashing a run.
    """
    template = _template(key, language, address)
    return tidy(template.format_map(_Keep(params))) if params else template


# A filled-in value that ends a sentence itself ("Hoe gaat het?") followed by the
# template's own full stop or semicolon: the value's mark stays, the template's goes.
_DOUBLED: Final = re.compile(r"(?<=[?!])[.;]|(?<=[^.])\.\.(?!\.)")
# Nouns counted by a placeholder: "1 sessies" reads "1 sessie".
_SINGULAR: Final = {
    "sessies": "sessie",
    "sessions": "session",
    "dagen": "dag",
    "days": "day",
    "weken": "week",
    "weeks": "week",
    "maanden": "maand",
    "months": "month",
    "minuten": "minuut",
    "minutes": "minute",
    "antwoorden": "antwoord",
    "answers": "answer",
    "vragen": "vraag",
    "questions": "question",
    "evaluaties": "evaluatie",
    "evaluations": "evaluation",
}
_ONE: Final = re.compile(r"(?<![\d.,])\b1 (" + "|".join(_SINGULAR) + r")\b")


def tidy(sentence: str) -> str:
    """A filled-in sentence without doubled punctuation ("goed?." reads "goed?") and
    with the singular after a count of one ("1 sessies" reads "1 sessie")."""
    sentence = _DOUBLED.sub(lambda m: "" if m.group(0) in ".;" else ".", sentence)
    return _ONE.sub(lambda m: "1 " + _SINGULAR[m.group(1)], sentence)


@lru_cache(maxsize=4096)
def _template(key: str, language: str, address: str) -> str:
    # Cached: the engine says the same few sentences thousands of times a second.
    entry = CATALOGUE.get(key)
    if entry is None:
        return key
    for lang in languages_to_try(language):
        if address == "u" and f"{lang}@u" in entry:
            return entry[f"{lang}@u"]
        if lang in entry:
            return entry[lang]
    return key


def count(key: str, n: int, language: str = DEFAULT, address: str = "je") -> str:
    """A counted phrase: `key.one` for 1, `key.zero` for 0 when it exists, else `key.many`."""
    if n == 1:
        return t(f"{key}.one", language, address, n=n)
    if n == 0 and f"{key}.zero" in CATALOGUE:
        return t(f"{key}.zero", language, address, n=n)
    return t(f"{key}.many", language, address, n=n)


@lru_cache(maxsize=1024)
def minutes(n: int, language: str = DEFAULT) -> str:
    """`5` → "5 minuten" / "5 minutes"; `1` → "1 minuut" / "1 minute"."""
    return count("minutes", n, language)


def role_name(role: str, language: str = DEFAULT) -> str:
    """A role as a person reads it ("voorzitter"); a flow's own role keeps its id."""
    key = f"role.{role}"
    return t(key, language) if key in CATALOGUE else role


def join(items: Iterable[str], language: str = DEFAULT, word: str = "and") -> str:
    """ "Anna, Bram en Cor" / "Anna, Bram and Cor"; `word="or"` gives "of" / "or"."""
    parts = list(items)
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + t(f"list.{word}", language) + parts[-1]
