"""What Samen says about trajectories and evaluations, in Dutch (default) and English.

Kept apart from `bot/runtime/replies.py` so that the evaluation cadences stay one module to read.
The wording is about the process of working together and about choosing consciously;
it never suggests that it is time to discharge someone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from bot.runtime.replies import pick

TEXTS: Final[Mapping[str, Mapping[str, str]]] = {
    # Short words for one line of the MDO agenda (see bot.trajectories.desk.agenda_lines).
    "label.plan_review": {"nl": "planevaluatie", "en": "plan review"},
    "label.continuation": {"nl": "vervolgvraag", "en": "continuation question"},
    "label.colleague": {"nl": "evaluatie met een collega", "en": "evaluation with a colleague"},
    "label.periodic": {"nl": "halfjaarlijkse evaluatie", "en": "half-yearly evaluation"},
    "label.process": {"nl": "procesevaluatie", "en": "process evaluation"},
    "label.agreed": {"nl": "afgesproken evaluatie", "en": "agreed evaluation"},
    "agenda.overdue": {
        "nl": "{ref} — {what}, {owner}, te laat sinds {since}",
        "en": "{ref} — {what}, {owner}, overdue since {since}",
    },
    "agenda.due": {
        "nl": "{ref} — {what}, {owner}, aan de beurt sinds {since}",
        "en": "{ref} — {what}, {owner}, due since {since}",
    },
    "agenda.asked": {
        "nl": "{ref} — {what}, {owner}, op verzoek (gepland {since})",
        "en": "{ref} — {what}, {owner}, on request (planned {since})",
    },
    "kind.plan_review": {
        "nl": "behandelplan erbij pakken: doelen evalueren en zo nodig bijstellen",
        "en": "take out the treatment plan: evaluate the goals and adjust them where needed",
    },
    "kind.continuation": {
        "nl": "vervolgvraag voor het MDO: waarom gaan we verder, wat willen we nog bereiken?",
        "en": "continuation question for the MDO: why do we continue, what do we still want "
        "to achieve?",
    },
    "kind.colleague": {
        "nl": "nodig een collega uit bij de evaluatie: wat heeft het opgeleverd, wat is er "
        "nog nodig, en wie kan dat het beste bieden?",
        "en": "invite a colleague to the evaluation: what has it yielded, what is still "
        "needed, and who can best provide that?",
    },
    "kind.periodic": {
        "nl": "halfjaarlijkse evaluatie van de samenwerking",
        "en": "regular evaluation of how you work together",
    },
    "kind.process": {
        "nl": "procesevaluatie na {sessions} sessies: werken jullie samen goed?",
        "en": "process evaluation after {sessions} sessions: are you working well together?",
    },
    "kind.agreed": {
        "nl": "de evaluatie die jullie de vorige keer hebben afgesproken",
        "en": "the evaluation you agreed on last time",
    },
    "state.upcoming": {"nl": "gepland", "en": "planned"},
    "state.due": {"nl": "nu aan de orde", "en": "due now"},
    "state.overdue": {"nl": "over tijd", "en": "overdue"},
    "state.done": {"nl": "gedaan", "en": "done"},
    "state.snoozed": {"nl": "uitgesteld", "en": "snoozed"},
    "nudge": {
        "nl": "Evaluatiemoment voor traject {ref} (gestart {start}, {age}): {what}.\n"
        "Het gaat om hoe jullie samen werken, niet om de uitkomst. Wat wil je doen?\n"
        "• /samen evaluatie {ref} mdo — op de agenda van het volgende MDO\n"
        "• /samen evaluatie {ref} klaar doorgaan tot <datum> volgende <datum> koers <tekst> "
        "(of: overdragen / afsluiten)\n"
        "• /samen evaluatie {ref} uitstel <weken>w <reden>",
        "en": "Evaluation moment for trajectory {ref} (started {start}, {age}): {what}.\n"
        "It is about how you work together, not about the outcome. What would you like to do?\n"
        "• /samen evaluation {ref} mdo — on the agenda of the next MDO\n"
        "• /samen evaluation {ref} done continue until <date> next <date> course <text> "
        "(or: transfer / close)\n"
        "• /samen evaluation {ref} snooze <weeks>w <reason>",
    },
    "overdue": {
        "nl": "De evaluatie van traject {ref} ({what}) staat nog open sinds {due}. "
        "Een volgend gesprek telt pas als de evaluatie gedaan is en het volgende moment "
        "is afgesproken. Zet hem op de MDO-agenda, rond hem af, of stel hem uit met een "
        "reden: /samen evaluatie {ref} mdo | klaar ... | uitstel ...",
        "en": "The evaluation of trajectory {ref} ({what}) has been open since {due}. It only "
        "counts once it is done and the next moment is agreed. Put it on the MDO agenda, "
        "complete it, or snooze it with a reason: /samen evaluation {ref} mdo | done ... | "
        "snooze ...",
    },
    "escalation": {
        "nl": "Ter info voor de coördinator: de evaluatie van traject {ref} (eigenaar {owner}) "
        "is over tijd sinds {since}. Misschien kan het MDO er tijd voor maken.",
        "en": "For the coordinator: the evaluation of trajectory {ref} (owner {owner}) has "
        "been overdue since {since}. Perhaps the MDO can make time for it.",
    },
    "budget_near": {
        "nl": "Traject {ref}: sessie {sessions} van {budget}. Plan de evaluatie of de afronding.",
        "en": "Trajectory {ref}: session {sessions} of {budget}. Plan the evaluation or the "
        "closing.",
    },
    "usage": {
        "nl": "Schrijf: /samen traject <code> <startdatum> · /samen traject lijst · "
        "/samen traject <code> start <datum> · /samen traject <code> sluit · "
        "/samen traject <code> beleid mdo=12 elke=6 sessies=10",
        "en": "Write: /samen trajectory <code> <start date> · /samen trajectory list · "
        "/samen trajectory <code> start <date> · /samen trajectory <code> close · "
        "/samen trajectory <code> policy mdo=12 every=6 sessions=10",
    },
    "evaluation_usage": {
        "nl": "Schrijf: /samen evaluatie <code> mdo · /samen evaluatie <code> klaar doorgaan "
        "tot <datum> volgende <datum> koers <tekst> · /samen evaluatie <code> uitstel 2w <reden>",
        "en": "Write: /samen evaluation <code> mdo · /samen evaluation <code> done continue "
        "until <date> next <date> course <text> · /samen evaluation <code> snooze 2w <reason>",
    },
    "session_usage": {
        "nl": "Schrijf: /samen sessie <code>, bijvoorbeeld /samen sessie T-0412.",
        "en": "Write: /samen session <code>, for example /samen session T-0412.",
    },
    "unknown_ref": {
        "nl": "Dat traject ken ik niet in dit team. /samen traject lijst laat ze zien.",
        "en": "I don't know that trajectory in this team. /samen trajectory list shows them.",
    },
    "not_open": {
        "nl": "Traject {ref} is niet meer lopend.",
        "en": "Trajectory {ref} is no longer running.",
    },
    "not_owner": {
        "nl": "Dit traject is van {owner}; alleen die (of een coördinator) kan dit doen. "
        "Je kunt het wel op de MDO-agenda laten zetten.",
        "en": "This trajectory belongs to {owner}; only they (or a coordinator) can do this. "
        "You can ask for it to go on the MDO agenda.",
    },
    "no_open_evaluation": {
        "nl": "Traject {ref} heeft geen open evaluatie.",
        "en": "Trajectory {ref} has no open evaluation.",
    },
    "list_none": {
        "nl": "Er lopen geen trajecten in dit team.",
        "en": "No trajectories are running in this team.",
    },
    "list": {"nl": "Lopende trajecten:\n{lines}", "en": "Running trajectories:\n{lines}"},
    "list_line": {
        "nl": "• {ref} — {owner}, gestart {start}, {sessions} sessies; volgende evaluatie: {next}",
        "en": "• {ref} — {owner}, started {start}, {sessions} sessions; next evaluation: {next}",
    },
    "due_none": {
        "nl": "Er staan geen evaluaties open die nu aan de orde of over tijd zijn.",
        "en": "No evaluations are due or overdue.",
    },
    "due_list": {
        "nl": "Evaluaties die aan de orde zijn:\n{lines}",
        "en": "Evaluations that are due:\n{lines}",
    },
    "due_line": {
        "nl": "• {ref} ({owner}) — {what}; {state} sinds {due}{agenda}",
        "en": "• {ref} ({owner}) — {what}; {state} since {due}{agenda}",
    },
    "on_agenda": {"nl": " · op de MDO-agenda", "en": " · on the MDO agenda"},
    "registered": {
        "nl": "Traject {ref} staat genoteerd (gestart {start}). Evaluatiemomenten: {dates}.",
        "en": "Trajectory {ref} is registered (started {start}). Evaluation moments: {dates}.",
    },
    "start_changed": {
        "nl": "Startdatum van {ref} is nu {start}. Volgende evaluatiemomenten: {dates}. "
        "Eerdere evaluaties blijven bewaard.",
        "en": "The start date of {ref} is now {start}. Next evaluation moments: {dates}. "
        "Earlier evaluations are kept.",
    },
    "policy_set": {
        "nl": "Evaluatiebeleid {what}: plan {plan} mnd, MDO {mdo} mnd, collega {colleague} mnd, "
        "daarna elke {every} mnd; procesevaluatie na {sessions} sessies (0 = uit); "
        "uitstel {snoozes}x, max {weeks} weken. Volgende momenten: {dates}.",
        "en": "Evaluation policy {what}: plan {plan} mo, MDO {mdo} mo, colleague {colleague} mo, "
        "then every {every} mo; process evaluation after {sessions} sessions (0 = off); "
        "snooze {snoozes}x, max {weeks} weeks. Next moments: {dates}.",
    },
    "policy_team": {"nl": "van het team", "en": "of the team"},
    "policy_of": {"nl": "voor {ref}", "en": "for {ref}"},
    "closed": {
        "nl": "Traject {ref} is afgesloten; de geplande evaluaties vervallen, de "
        "geschiedenis blijft bewaard.",
        "en": "Trajectory {ref} is closed; planned evaluations are dropped, the history is kept.",
    },
    "session_logged": {
        "nl": "Sessie {sessions} van traject {ref} genoteerd.",
        "en": "Session {sessions} of trajectory {ref} noted.",
    },
    "process_due": {
        "nl": " Na {sessions} sessies is er een procesevaluatie aan de orde.",
        "en": " After {sessions} sessions a process evaluation is due.",
    },
    "mdo_set": {
        "nl": "De evaluatie van {ref} staat op de agenda van het volgende MDO.",
        "en": "The evaluation of {ref} is on the agenda of the next MDO.",
    },
    "done_set": {
        "nl": "Evaluatie van {ref} afgerond ({outcome}). Volgende evaluatie: {next}.",
        "en": "Evaluation of {ref} completed ({outcome}). Next evaluation: {next}.",
    },
    "done_closed": {
        "nl": "Evaluatie van {ref} afgerond: het traject wordt afgesloten. Dank voor het "
        "bewust kiezen.",
        "en": "Evaluation of {ref} completed: the trajectory closes. Thanks for choosing "
        "consciously.",
    },
    "outcome.continue": {"nl": "doorgaan tot {until}", "en": "continue until {until}"},
    "outcome.transfer": {"nl": "overdragen", "en": "transfer"},
    "outcome.close": {"nl": "afsluiten", "en": "close"},
    "snoozed": {
        "nl": "Evaluatie van {ref} uitgesteld tot {until} (uitstel {n} van {max}).",
        "en": "Evaluation of {ref} snoozed until {until} (snooze {n} of {max}).",
    },
    # Refusals from bot.core.cadence.
    "done_outcome": {
        "nl": "Wat is de uitkomst? Begin met doorgaan, overdragen of afsluiten, bijvoorbeeld: "
        "/samen evaluatie T-0412 klaar doorgaan tot 2027-06-01 volgende 2027-03-01 koers "
        "wekelijks, netwerk erbij",
        "en": "What is the outcome? Start with continue, transfer or close, for example: "
        "/samen evaluation T-0412 done continue until 2027-06-01 next 2027-03-01 course "
        "weekly, involve the network",
    },
    "done_needs_until": {
        "nl": "Tot wanneer gaan jullie door? Voeg 'tot <datum>' toe.",
        "en": "Until when do you continue? Add 'until <date>'.",
    },
    "done_until_past": {
        "nl": "De datum na 'tot' moet in de toekomst liggen.",
        "en": "The date after 'until' must lie in the future.",
    },
    "done_needs_next": {
        "nl": "Een evaluatie telt pas als het volgende evaluatiemoment is afgesproken. "
        "Voeg 'volgende <datum>' toe, bijvoorbeeld volgende 2027-03-01.",
        "en": "An evaluation only counts once the next evaluation moment is agreed. "
        "Add 'next <date>', for example next 2027-03-01.",
    },
    "done_next_past": {
        "nl": "De volgende evaluatie moet na vandaag liggen.",
        "en": "The next evaluation must be after today.",
    },
    "done_next_far": {
        "nl": "De volgende evaluatie ligt te ver weg; kies een datum tot en met {latest}.",
        "en": "The next evaluation is too far away; choose a date up to {latest}.",
    },
    "done_next_after_until": {
        "nl": "De volgende evaluatie moet vóór het einde ('tot') vallen.",
        "en": "The next evaluation must fall before the end ('until').",
    },
    "done_needs_course": {
        "nl": "Wat is de koers tot de volgende evaluatie? Voeg 'koers <een paar woorden>' "
        "toe (als laatste).",
        "en": "What is the course until the next evaluation? Add 'course <a few words>' (last).",
    },
    "done_bad_date": {
        "nl": "Na '{word}' verwacht ik een datum, zoals 2027-03-01.",
        "en": "After '{word}' I expect a date, such as 2027-03-01.",
    },
    "done_unknown_word": {
        "nl": "'{word}' begrijp ik hier niet; gebruik tot, volgende en koers.",
        "en": "I don't understand '{word}' here; use until, next and course.",
    },
    "snooze_usage": {
        "nl": "Schrijf: /samen evaluatie <code> uitstel 2w <reden> (of een datum).",
        "en": "Write: /samen evaluation <code> snooze 2w <reason> (or a date).",
    },
    "snooze_needs_reason": {
        "nl": "Uitstellen kan, maar alleen met een reden: /samen evaluatie <code> uitstel 2w "
        "<reden>.",
        "en": "Snoozing is possible, but only with a reason: /samen evaluation <code> snooze "
        "2w <reason>.",
    },
    "snooze_past": {
        "nl": "Kies een datum na vandaag.",
        "en": "Choose a date after today.",
    },
    "snooze_limit": {
        "nl": "Deze evaluatie is al {n} keer uitgesteld; dat is het maximum. Zet hem op de "
        "MDO-agenda of rond hem af.",
        "en": "This evaluation has been snoozed {n} times already; that is the limit. Put it "
        "on the MDO agenda or complete it.",
    },
    "snooze_too_long": {
        "nl": "Uitstel kan voor hooguit {weeks} weken.",
        "en": "Snoozing is possible for {weeks} weeks at most.",
    },
    "policy_usage": {
        "nl": "Schrijf bijvoorbeeld: beleid plan=6 mdo=12 collega=24 elke=6 sessies=10 "
        "uitstel=2 uitstelweken=8 marge=14 escalatie=14",
        "en": "Write for example: policy plan=6 mdo=12 colleague=24 every=6 sessions=10 "
        "snoozes=2 snoozeweeks=8 grace=14 escalate=14",
    },
    "policy_unknown": {
        "nl": "'{word}' ken ik niet. Gebruik plan, mdo, collega, elke, sessies, budget, uitstel, "
        "uitstelweken, marge of escalatie, met =getal.",
        "en": "I don't know '{word}'. Use plan, mdo, colleague, every, sessions, budget, "
        "snoozes, snoozeweeks, grace or escalate, with =number.",
    },
    "policy_range": {
        "nl": "{word} moet een getal van {low} tot en met {high} zijn.",
        "en": "{word} must be a number from {low} to {high}.",
    },
    "age_years": {"nl": "{n} jaar", "en": "{n} year(s)"},
    "age_months": {"nl": "{n} maanden", "en": "{n} months"},
}


def say(key: str, language: str = "nl", **params: object) -> str:
    """The text `key` in `language` (its base language, then Dutch, as fallback)."""
    return pick(TEXTS, key, language, **params)
