"""What the shell says in chat around the flows: help, settings, refusals, in nl and en.

The engine's own sentences (bells, reminders, re-prompts) live in `bot/core/i18n.py`;
these are the answers to `/samen ...` commands. Dutch is the default; a missing English
sentence falls back to Dutch, so a reply is never empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bot.core.i18n import tidy

REPLIES: Final[Mapping[str, Mapping[str, str]]] = {
    "help": {
        "nl": (
            "Samen helpt je team bij vaste werkvormen.\n"
            "• /samen start <werkvorm> — begin een werkvorm ({flows})\n"
            "• /samen bezoek <datum> <tijd> — plan een gezamenlijk huisbezoek "
            "(ook: mdo, intervisie, overleg, intake)\n"
            "• /samen open — je openstaande vragen, met hun nummers\n"
            "• Antwoorden: elke vraag zegt wat je typt (een nummer, een woord, een naam). "
            "Overslaan: - of overslaan; nvt: niet van toepassing; klaar: de rest laten.\n"
            "• /samen status — wat er loopt\n"
            "• /samen rol @naam <rol> · /samen rollen · taal nl|en · aanspreekvorm je|u · "
            "tijdzone <zone> · werktijden ma-vr 08:30-17:30\n"
            "• /samen afwezig tot <datum> · /samen aanwezig\n"
            "• /samen traject <code> <startdatum> — evaluatiemomenten voor een behandeling\n"
            "• /samen evaluaties — wat aan de orde is · /samen evaluatie <code> mdo|klaar|uitstel "
            "· /samen sessie <code>\n"
            "• /bel · /bel pauze · /bel verder · /bel +5 · /bel volgende · /bel stop · "
            "/bel proces · /bel time-out"
        ),
        "en": (
            "Samen helps your team keep its working formats.\n"
            "• /samen start <format> — start a format ({flows})\n"
            "• /samen visit <date> <time> — plan a joint visit (also: mdo, intervision, "
            "meeting, intake)\n"
            "• /samen open — your open questions, with their numbers\n"
            "• Answering: each question says what to type (a number, a word, a name). "
            "Skip: - or skip; n/a: not applicable; done: leave the rest.\n"
            "• /samen status — what is running\n"
            "• /samen role @name <role> · /samen roles · language nl|en · address je|u · "
            "timezone <zone> · hours mon-fri 08:30-17:30\n"
            "• /samen absent until <date> · /samen present\n"
            "• /samen trajectory <code> <start date> — evaluation moments for a treatment\n"
            "• /samen evaluations — what is due · /samen evaluation <code> mdo|done|snooze "
            "· /samen session <code>\n"
            "• /bel · /bel pause · /bel resume · /bel +5 · /bel next · /bel stop · "
            "/bel process · /bel time-out"
        ),
    },
    "unknown_command": {
        "nl": "Dat commando ken ik niet: '{typed}'. Typ /samen voor wat ik kan.",
        "en": "I don't know that command: '{typed}'. Type /samen to see what I can do.",
    },
    "unknown_bell": {
        "nl": "'/bel {typed}' begrijp ik niet. Probeer: {words}.",
        "en": "I don't understand '/bel {typed}'. Try: {words}.",
    },
    "unknown_flow": {
        "nl": "Die werkvorm ken ik niet.{hint} Beschikbaar: {flows}.",
        "en": "I don't know that format.{hint} Available: {flows}.",
    },
    "did_you_mean": {"nl": " Bedoel je '{name}'?", "en": " Did you mean '{name}'?"},
    "start_which": {
        "nl": "Welke werkvorm? Bijvoorbeeld: /samen start {example}",
        "en": "Which format? For example: /samen start {example}",
    },
    "no_meeting": {
        "nl": "Er loopt nu geen werkvorm in dit kanaal om de bel voor te gebruiken.",
        "en": "No format is running in this channel to use the bell for.",
    },
    "bad_when": {
        "nl": "Ik begrijp die datum of tijd niet. Schrijf bijvoorbeeld: /samen {word} "
        "{example}, of /samen {word} morgen 14:00 (ook: vrijdag 9u30, 24 december 14:00, "
        "over 2 uur).",
        "en": "I don't understand that date or time. Write for example: /samen {word} "
        "{example}, or /samen {word} tomorrow 2pm (also: friday 9:30, 24 december 14:00, "
        "in 2 hours).",
    },
    "plan_duplicate": {
        "nl": "Dit staat er al: {what} op {when} met dezelfde mensen (code {code}). Nog "
        "een keer registreren? Typ dan: {typed}",
        "en": "This is registered already: {what} on {when} with the same people (code "
        "{code}). Register it again? Then type: {typed}",
    },
    "confirm_word": {"nl": "toch", "en": "again"},
    "when_impossible_date": {
        "nl": "{typed} bestaat niet; kijk de dag en de maand nog eens na.",
        "en": "{typed} does not exist; please check the day and the month.",
    },
    "when_impossible_time": {
        "nl": "{typed} is geen tijd van de dag; die loopt van 0:00 tot 23:59.",
        "en": "{typed} is not a time of day; those run from 0:00 to 23:59.",
    },
    "in_past": {
        "nl": "Dat moment is al voorbij; kies een moment in de toekomst.",
        "en": "That moment has passed; choose one in the future.",
    },
    "planned": {
        "nl": "Genoteerd: {what} op {when}.{starts}",
        "en": "Noted: {what} on {when}.{starts}",
    },
    "planned_starts": {
        "nl": " '{flow}' begint {when}.",
        "en": " '{flow}' starts {when}.",
    },
    "planned_none": {
        "nl": " Er hoort geen werkvorm bij dit soort afspraak.",
        "en": " No format belongs to this kind of appointment.",
    },
    "planned_with": {
        "nl": " Met {names}.",
        "en": " With {names}.",
    },
    "planned_code": {
        "nl": " Code {code}: verzetten met /samen verzet {code} <datum> <tijd>, "
        "afzeggen met /samen afzeggen {code}.",
        "en": " Code {code}: move it with /samen move {code} <date> <time>, "
        "cancel it with /samen cancel {code}.",
    },
    "plan_extra_unknown": {
        "nl": "Een woord na de datum en tijd begrijp ik niet. Schrijf bijvoorbeeld: /samen "
        "bezoek 2026-11-24 14:00 @anna @bram cliënt K-12 (een code, nooit een naam).",
        "en": "I don't understand a word after the date and time. Write for example: /samen "
        "visit 2026-11-24 14:00 @anna @bram client K-12 (a code, never a name).",
    },
    "plan_client_usage": {
        "nl": "Geef na 'cliënt' een code van 2 tot 32 tekens, zoals K-12.",
        "en": "After 'client', give a code of 2 to 32 characters, such as K-12.",
    },
    "plan_client_name_like": {
        "nl": "Die code lijkt op een naam. Gebruik een code met een cijfer die alleen jullie "
        "kunnen herleiden, zoals K-12: namen van cliënten horen niet in de chat.",
        "en": "That code looks like a name. Use a code with a digit that only you can trace "
        "back, such as K-12: client names do not belong in chat.",
    },
    "move_usage": {
        "nl": "Schrijf: /samen verzet <code> <datum> <tijd>, bijvoorbeeld "
        "/samen verzet 3f9a2c {example}.",
        "en": "Write: /samen move <code> <date> <time>, for example /samen move 3f9a2c {example}.",
    },
    "cancel_usage": {
        "nl": "Schrijf: /samen afzeggen <code>, met de code uit de bevestiging.",
        "en": "Write: /samen cancel <code>, with the code from the confirmation.",
    },
    "event_unknown": {
        "nl": "Ik vind geen afspraak met code '{code}' in dit team. De code staat in de "
        "bevestiging van /samen bezoek.",
        "en": "I find no appointment with code '{code}' in this team. The code is in the "
        "confirmation of /samen visit.",
    },
    "event_moved": {
        "nl": "Verzet: {what} is nu op {when}. Geplande werkvormen die meeschuiven: {n}. "
        "Werkvormen die al lopen houden hun tijden.",
        "en": "Moved: {what} is now on {when}. Planned formats moved along: {n}. "
        "Formats already running keep their times.",
    },
    "event_cancelled": {
        "nl": "Afgezegd: {what}. Geplande werkvormen die niet doorgaan: {n}. "
        "Werkvormen die al lopen, stop je met /bel stop.",
        "en": "Cancelled: {what}. Planned formats that will not start: {n}. "
        "Stop formats already running with /bel stop.",
    },
    "event.visit": {"nl": "het huisbezoek", "en": "the home visit"},
    "event.mdo": {"nl": "het MDO", "en": "the MDO"},
    "event.meeting": {"nl": "het overleg", "en": "the meeting"},
    "event.intervisie": {"nl": "de intervisie", "en": "the intervision"},
    "event.intake": {"nl": "de intake", "en": "the intake"},
    "now": {"nl": "nu", "en": "now"},
    "role_usage": {
        "nl": "Schrijf: /samen rol @naam <rol>, bijvoorbeeld /samen rol @anna voorzitter; "
        "/samen rol @anna -voorzitter neemt die rol weer af; /samen rollen toont wie welke "
        "rol heeft.",
        "en": "Write: /samen role @name <role>, for example /samen role @anna chair; "
        "/samen role @anna -chair takes it away again; /samen roles shows who has which.",
    },
    "role_set.none": {
        "nl": "{name} heeft nu geen bijzondere rol.",
        "en": "{name} now has no special role.",
    },
    "role_set.one": {
        "nl": "{name} heeft nu de rol {roles}.",
        "en": "{name} now has the role {roles}.",
    },
    "role_set.many": {
        "nl": "{name} heeft nu de rollen {roles}.",
        "en": "{name} now has the roles {roles}.",
    },
    "role_none": {"nl": "geen bijzondere rol", "en": "no special role"},
    "role_unknown": {
        "nl": "Die rol ken ik niet.{hint} Rollen in dit team: {roles}.",
        "en": "I don't know that role.{hint} Roles in this team: {roles}.",
    },
    "role_self": {
        "nl": "Je kunt jezelf geen rol geven; vraag een andere coördinator.",
        "en": "You cannot give yourself a role; ask another coordinator.",
    },
    "role_last_coordinator": {
        "nl": "Een team houdt minstens één coördinator. Maak eerst iemand anders "
        "coördinator: /samen rol @naam coördinator",
        "en": "A team keeps at least one coordinator. First make someone else "
        "coordinator: /samen role @name coordinator",
    },
    "roles_list": {
        "nl": "Rollen in dit team:\n{lines}",
        "en": "Roles in this team:\n{lines}",
    },
    "first_coordinators": {
        "nl": "{names} coördineert dit team in Samen: geeft rollen en past instellingen aan "
        "(/samen rol @naam coördinator maakt er nog iemand bij).",
        "en": "{names} coordinates this team in Samen: gives roles and changes settings "
        "(/samen role @name coordinator adds someone).",
    },
    "first_coordinators_many": {
        "nl": "{names} coördineren dit team in Samen: zij geven rollen en passen instellingen "
        "aan (/samen rol @naam coördinator maakt er nog iemand bij).",
        "en": "{names} coordinate this team in Samen: they give roles and change settings "
        "(/samen role @name coordinator adds someone).",
    },
    "private_greeting": {
        "nl": "Hallo! Ik ben Samen. Ik help je team bij vaste werkvormen: afstemmen voor een "
        "gezamenlijk bezoek, intervisie, reflectie en de evaluaties van behandelingen. "
        "Vragen en herinneringen voor jou stuur ik hier, in dit gesprek; de rest gebeurt in "
        "de groep van je team ({teams}). Typ /samen help voor wat je kunt doen.",
        "en": "Hello! I am Samen. I help your team keep its working formats: aligning before "
        "a joint visit, intervision, reflection and the evaluations of treatments. Questions "
        "and reminders for you come here, in this chat; the rest happens in your team's "
        "group ({teams}). Type /samen help to see what you can do.",
    },
    "private_no_team": {
        "nl": "Hallo! Ik ben Samen: ik help zorgteams bij vaste werkvormen, zoals afstemmen "
        "voor een gezamenlijk bezoek, intervisie en evaluaties. Ik ken je nog niet in een "
        "team. Vraag je team om mij in de groep of het kanaal van het team te zetten, en "
        "typ daar /samen help; daarna kun je mij ook hier alles vragen.\n\nHello! I am "
        "Samen. I don't know you in a team yet: ask your team to add me to its group or "
        "channel and type /samen help there.",
        "en": "Hello! I am Samen: I help care teams keep their working formats. I don't "
        "know you in a team yet: ask your team to add me to its group or channel and type "
        "/samen help there; after that you can ask me here too.",
    },
    "private_bell": {
        "nl": "De bel hoort bij een bijeenkomst: gebruik /bel in de groep van je team.",
        "en": "The bell belongs to a meeting: use /bel in your team's group.",
    },
    "private_which_team": {
        "nl": "Over welk team gaat dit? Je zit in: {teams}. Typ het nog eens met 'in <team>' "
        "erachter, bijvoorbeeld: {example}",
        "en": "Which team is this about? You are in: {teams}. Type it again with "
        "'in <team>' after it, for example: {example}",
    },
    "outsider": {
        "nl": "Samen werkt alleen voor het zorgteam van deze organisatie. Jou neem ik niet "
        "op in het team en ik stuur je geen vragen of teamgegevens.",
        "en": "Samen only serves this organisation's care team. I do not add you to the "
        "team and send you no questions or team data.",
    },
    "not_allowed_settings": {
        "nl": "Alleen een coördinator van dit team kan dit aanpassen.",
        "en": "Only a coordinator of this team can change this.",
    },
    "unknown_member": {
        "nl": "Ik ken '{name}' niet in dit team. Iemand hoort erbij zodra die Samen hier "
        "heeft gebruikt.",
        "en": "I don't know '{name}' in this team. People join once they have used Samen here.",
    },
    "setting_set": {"nl": "Aangepast: {what}.", "en": "Done: {what}."},
    "setting.language": {"nl": "de taal is nu {value}", "en": "the language is now {value}"},
    "setting.address": {
        "nl": "de aanspreekvorm is nu '{value}'",
        "en": "the Dutch form of address is now '{value}'",
    },
    "setting.timezone": {"nl": "de tijdzone is nu {value}", "en": "the time zone is now {value}"},
    "setting.hours": {
        "nl": "de werktijden zijn nu {value}",
        "en": "the working hours are now {value}",
    },
    "language.nl": {"nl": "Nederlands", "en": "Dutch"},
    "language.nl-BE": {"nl": "Vlaams (nl-BE)", "en": "Flemish (nl-BE)"},
    "language.en": {"nl": "Engels", "en": "English"},
    "setting_bad.language": {
        "nl": "Die taal ken ik niet: '{value}'. Kies nl, nl-BE of en.",
        "en": "I don't know the language '{value}'. Choose nl, nl-BE or en.",
    },
    "setting_bad.address": {
        "nl": "Kies je of u als aanspreekvorm, niet '{value}'.",
        "en": "Choose je or u as the form of address, not '{value}'.",
    },
    "setting_bad.timezone": {
        "nl": "Die tijdzone ken ik niet: '{value}'. Schrijf bijvoorbeeld Europe/Amsterdam "
        "of Europe/Brussels.",
        "en": "I don't know the time zone '{value}'. Write for example Europe/Amsterdam or "
        "Europe/London.",
    },
    "setting_bad.hours": {
        "nl": "Die werktijden begrijp ik niet: '{value}'. Schrijf bijvoorbeeld ma-vr 08:30-17:30.",
        "en": "I don't understand the working hours '{value}'. Write for example mon-fri "
        "08:30-17:30.",
    },
    "setting_usage": {
        "nl": "Schrijf bijvoorbeeld: /samen taal en · /samen aanspreekvorm u · "
        "/samen tijdzone Europe/Brussels · /samen werktijden ma-vr 08:30-17:30",
        "en": "Write for example: /samen language en · /samen address u · "
        "/samen timezone Europe/Brussels · /samen hours mon-fri 08:30-17:30",
    },
    "absent_set": {
        "nl": "Genoteerd: je bent afwezig tot en met {until}. Je krijgt tot dan geen vragen.",
        "en": "Noted: you are away until {until} inclusive. No questions until then.",
    },
    "absent_usage": {
        "nl": "Schrijf tot wanneer je weg bent, bijvoorbeeld: /samen afwezig tot {example} "
        "(of: tot vrijdag, tot 24 december)",
        "en": "Say until when you are away, for example: /samen absent until {example} "
        "(or: until friday, until 24 december)",
    },
    "present_set": {"nl": "Welkom terug.", "en": "Welcome back."},
    "status": {
        "nl": "Lopend: {runs}. Volgende herinnering of bel: {next}.",
        "en": "Running: {runs}. Next nudge or bell: {next}.",
    },
    "nothing": {"nl": "niets", "en": "nothing"},
    "trajectory_usage": {
        "nl": "Schrijf: /samen traject <code> <startdatum>, bijvoorbeeld /samen traject "
        "T-0412 2025-11-24. Gebruik een code, nooit een naam.",
        "en": "Write: /samen trajectory <code> <start date>, for example /samen trajectory "
        "T-0412 2025-11-24. Use a code, never a name.",
    },
    "trajectory_name_like": {
        "nl": "Die code lijkt op een naam of een BSN. Gebruik een code die alleen jij kunt "
        "herleiden, zoals T-0412: namen en BSN's van cliënten horen niet in de chat.",
        "en": "That code looks like a name or a BSN. Use a code only you can trace back, "
        "such as T-0412: client names and BSNs do not belong in chat.",
    },
    "trajectory_exists": {
        "nl": "Er is in dit team al een traject '{ref}'.",
        "en": "This team already has a trajectory '{ref}'.",
    },
    "trajectory_future": {
        "nl": "De startdatum ligt in de toekomst; registreer het traject als het begonnen is.",
        "en": "The start date is in the future; register the trajectory once it has begun.",
    },
    "trajectory_set": {
        "nl": "Traject {ref} staat genoteerd (gestart {start}). Evaluatiemomenten: {dates}.",
        "en": "Trajectory {ref} is registered (started {start}). Evaluation moments: {dates}.",
    },
    "bad_answer_target": {
        "nl": "Die vraag hoort bij iets dat niet meer loopt.",
        "en": "That question belongs to something that is no longer running.",
    },
    "bot_added": {
        "nl": "Dank je! Samen helpt dit team bij vaste werkvormen. Typ /samen om te zien "
        "wat ik kan. Vragen stuur ik iedereen privé.{how}",
        "en": "Thank you! Samen helps this team keep its working formats. Type /samen to see "
        "what I can do. I send questions to everyone privately.{how}",
    },
    # What a person does once so that private questions reach them, per platform (Slack
    # and the console need nothing).
    "private_how.telegram": {
        "nl": " Druk daarvoor één keer op Start in een gesprek met mij.",
        "en": " Press Start once in a chat with me for that.",
    },
    "private_how.matrix": {
        "nl": " Neem daarvoor mijn uitnodiging voor een privégesprek aan.",
        "en": " Accept my invitation to a direct chat for that.",
    },
    "start_needed": {
        "nl": "{name}, er staan vragen voor je klaar, maar ik kan je pas een bericht sturen "
        "als je mij een keer hebt gestart. Tik op de link en dan op Start: {link}",
        "en": "{name}, there are questions waiting for you, but I can only message you once "
        "you have started me. Tap the link, then Start: {link}",
    },
    # A bell, summary or form that could not be delivered (bot/teams/undelivered.py), to
    # the chair or coordinator; {reason} is the platform's short error code.
    "undelivered.bell": {
        "nl": "Let op: een bel van Samen kwam niet aan in {where} ({reason}). Nodig Samen "
        "uit in dat kanaal of die groep, of vraag de beheerder wat er mis is.",
        "en": "Note: a bell from Samen did not arrive in {where} ({reason}). Invite Samen "
        "to that channel or group, or ask your administrator what is wrong.",
    },
    "undelivered.summary": {
        "nl": "Let op: een samenvatting van Samen kwam niet aan in {where} ({reason}). "
        "Nodig Samen uit in dat kanaal of die groep, of vraag de beheerder wat er mis is.",
        "en": "Note: a summary from Samen did not arrive in {where} ({reason}). Invite "
        "Samen to that channel or group, or ask your administrator what is wrong.",
    },
    "undelivered.form": {
        "nl": "Let op: vragen van Samen kwamen niet aan in {where} ({reason}). Vraag de "
        "persoon om Samen te openen, of vraag de beheerder wat er mis is.",
        "en": "Note: questions from Samen did not arrive in {where} ({reason}). Ask the "
        "person to open Samen, or ask your administrator what is wrong.",
    },
    "undelivered.where.channel": {"nl": "het teamkanaal", "en": "the team channel"},
    "undelivered.where.private": {"nl": "een privégesprek", "en": "a private chat"},
    # The console's line where a message was (`samen forget` deleted it).
    "message_deleted": {"nl": "(bericht verwijderd)", "en": "(message deleted)"},
    "privacy_warning": {
        "nl": (
            "Wat je stuurde lijkt een naam, een BSN, een e-mailadres of een telefoonnummer "
            "te bevatten. Het is nog niet bewaard. Gebruik liever initialen of een eigen "
            "codenaam voor je cliënt. Wil je het toch zo bewaren? Stuur dan precies "
            "hetzelfde nog een keer."
        ),
        "en": (
            "What you sent seems to contain a name, a BSN, an e-mail address or a phone "
            "number. It has not been saved yet. Please use initials or a code name for your "
            "client instead. Want to keep it as it is? Then send exactly the same again."
        ),
    },
}


def say(key: str, language: str = "nl", **params: object) -> str:
    """The reply `key` in `language` (its base language, then Dutch, as fallback)."""
    return pick(REPLIES, key, language, **params)


def pick(
    catalogue: Mapping[str, Mapping[str, str]], key: str, language: str, **params: object
) -> str:
    """`key` from `catalogue` in `language`: its base language, then Dutch, as fallback."""
    variants = catalogue[key]
    for lang in (language, language.split("-")[0], "nl"):
        if lang in variants:
            sentence = variants[lang].format(**params)
            return tidy(sentence) if params else sentence
    return next(iter(variants.values())).format(**params)


_COMMAND_WORD = re.compile(r"/?[a-z+0-9]{1,12}")


def first_word(typed: str) -> str:
    """Only the command word of what someone typed, for echoing it back: the rest may be
    a client's name (minimal echo, R-PRV-3). A word that could itself be a name (not a
    short lowercase word) is shown as "…"."""
    words = typed.split()
    if not words:
        return ""
    return words[0] if _COMMAND_WORD.fullmatch(words[0]) else "…"


def local_moment(moment: datetime, timezone: str, language: str) -> str:
    """`moment` as people of a team read it: in their zone and language ("wo 25 nov 14:00")."""
    local = moment.astimezone(ZoneInfo(timezone))
    return format_datetime(local, "EEE d MMM HH:mm", locale=language.replace("-", "_"))
