"""The team's own commands: /samen help, start, rol, instellingen, afwezig, aanwezig,
status and open, and the answer to a mention or to the bot being added."""

from __future__ import annotations

import difflib
import logging
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import replace
from zoneinfo import ZoneInfo

from bot.core import i18n
from bot.core.commands import FLOW_WORDS_EN, english_flow_word, parse_work_hours
from bot.core.effects import Destination, Message, MessageKind
from bot.core.events import MemberAbsent
from bot.core.i18n import join, role_name
from bot.core.model import CommandTrigger, Flow
from bot.core.open_list import describe_open, open_form
from bot.core.render import text as render_text
from bot.core.run import Run
from bot.core.when import WhenProblem, example_day, read_day
from bot.runtime.context import Context
from bot.runtime.feature import Feature
from bot.runtime.outgoing import Outgoing
from bot.runtime.private import team_label
from bot.runtime.replies import REPLIES, local_moment, say
from bot.runtime.router import Router
from bot.runtime.runs import Runs
from bot.store.repo import Store
from bot.store.tables import MemberRow, TeamRow

log = logging.getLogger("samen.teams")

# The roles every team has besides those its flows name (`Flow.roles`).
TEAM_ROLES = ("chair", "coordinator")
# Words that take a role away: `/samen rol @anna -voorzitter`, `... geen voorzitter`.
NOT_WORDS = frozenset({"geen", "niet", "no", "not"})
COORDINATOR = "coordinator"


def _plain(word: str) -> str:
    """A role word as compared: lower case, accents off (coördinator = coordinator)."""
    folded = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in folded if not unicodedata.combining(c))


# The confirmation of `/samen rol` by how many roles the person now holds.
_ROLE_SET = ("role_set.none", "role_set.one", "role_set.many")

# The team languages by how they may be typed: `nl-be` and `NL-BE` are nl-BE.
LANGUAGE_CODES = {code.casefold(): code for code in ("nl", "nl-BE", "en")}


class TeamCommands(Feature):
    """`/samen` words about the team itself and the flows it may start."""

    def __init__(
        self, store: Store, flows: Mapping[str, Flow], runs: Runs, outgoing: Outgoing
    ) -> None:
        super().__init__(store, flows, runs, outgoing)
        self._help_texts: dict[str, str] = {}  # by language (see `help_text`)
        self.commands = sorted(
            {
                t.command
                for f in self.flows.values()
                for t in f.triggers
                if isinstance(t, CommandTrigger)
            }
        )

    def register(self, router: Router) -> None:
        router.command("help", self.help)
        router.command("start", self.start)
        router.command("role", self.role)
        router.command("roles", self.roles)
        router.command("setting", self.setting)
        router.command("absent", self.absent)
        router.command("present", self.present)
        router.command("status", self.status)
        router.command("open", self.open)
        router.event("mention", self.mentioned)
        router.event("bot_added", self.added)
        router.team_event("coordinators", self.platform_coordinators)
        router.across("help")
        router.across("open")

    async def may_change_settings(self, ctx: Context) -> bool:
        """Only a coordinator of the team changes its roles and settings (a team without
        one gets its first coordinators first, see `first_coordinators`)."""
        if ctx.member is None:
            return False
        coordinators = await self.first_coordinators(ctx.team)
        return ctx.member.user in coordinators

    async def first_coordinators(
        self, team: TeamRow, chosen: Sequence[tuple[str, str]] = ()
    ) -> set[str]:
        """The team's coordinators. A team without any gets them now: `chosen` (the
        platform's: Telegram's group administrators, on Slack the person who added
        Samen), else the person who has been in the team longest (in the console: the
        first person; also when the last coordinator left). Said once in the team's
        channel."""
        members = await self.store.members(team.id)
        found = {m.user for m in members if COORDINATOR in m.roles}
        if found:
            return found
        now = self.clock.now()
        made: list[MemberRow] = []
        for user, name in chosen:
            member = await self.store.upsert_member(team.id, user, name, now=now)
            made.append(await self.store.set_roles(team.id, user, [*member.roles, COORDINATOR]))
        if not made and members:
            first = members[0]
            roles = [*first.roles, COORDINATOR]
            made.append(await self.store.set_roles(team.id, first.user, roles))
        if not made:
            return set()
        names = join([m.name or m.user for m in made], team.language)
        key = "first_coordinators" if len(made) == 1 else "first_coordinators_many"
        text = say(key, team.language, names=names)
        row = self.outgoing.row(
            team,
            None,
            "send",
            "",
            Destination.channel(),
            Message(MessageKind.say, text),
            f"coordinators:{team.id}:" + ",".join(sorted(m.user for m in made)),
        )
        await self.store.commit_messages(outbox=[row], now=now)
        self.outgoing.notify()
        log.info("team %s: %d first coordinator(s)", team.id, len(made))
        return {m.user for m in made}

    def help_text(self, language: str) -> str:
        """The help text (every mention gets it): made once per language, as the flows
        are loaded once."""
        text = self._help_texts.get(language)
        if text is None:
            flows = ", ".join(self.command_words(language)) or "—"
            text = self._help_texts[language] = say("help", language, flows=flows)
        return text

    async def help(self, ctx: Context, args: tuple[str, ...]) -> None:
        await self.outgoing.reply(ctx, self.help_text(ctx.language))

    async def mentioned(self, ctx: Context) -> None:
        await self.outgoing.reply(ctx, self.help_text(ctx.language))

    async def added(self, ctx: Context) -> None:
        """Samen was added to the team's channel: the platform's first coordinators (the
        adapter's `coordinators`: [[user, name], ...]), else the person who added it."""
        listed = ctx.inbox.payload.get("coordinators")
        chosen = [(str(u), str(n)) for u, n in listed] if isinstance(listed, list) else []
        if not chosen and ctx.member is not None:
            chosen = [(ctx.member.user, ctx.member.name)]
        await self.first_coordinators(ctx.team, chosen)
        how_key = f"private_how.{ctx.platform}"
        how = say(how_key, ctx.language) if how_key in REPLIES else ""
        await self.outgoing.reply(ctx, say("bot_added", ctx.language, how=how))

    async def platform_coordinators(self, ctx: Context) -> None:
        """The platform says who administers the team's room (Matrix: power level 50 and
        up, and the room's creators; the adapter's `users`): they coordinate the team.
        A team without coordinators gets them as its first (said once); otherwise they are
        added quietly. Nobody loses the role here: coordinators named with /samen rol or
        in the teams file stay."""
        listed = ctx.inbox.payload.get("users")
        users = [str(u) for u in listed] if isinstance(listed, list) else []
        now = self.clock.now()
        have = await self.first_coordinators(ctx.team, [(u, "") for u in users])
        for user in users:
            if user not in have:
                member = await self.store.upsert_member(ctx.team.id, user, "", now=now)
                await self.store.set_roles(ctx.team.id, user, [*member.roles, COORDINATOR])
                log.info("team %s: a coordinator from the platform's room rights", ctx.team.id)
        await self.store.inbox_done(ctx.inbox.id, now)

    def command_words(self, language: str) -> list[str]:
        """The flows' command words as the team types them (English ones in English)."""
        if language.split("-", 1)[0] != "en":
            return self.commands
        return [english_flow_word(c) for c in self.commands]

    def find_flow(self, name: str) -> Flow | None:
        """The flow with this id or command word (Dutch, or its English word)."""
        name = name.lower()
        name = FLOW_WORDS_EN.get(name, name) if name not in self.flows else name
        if name in self.flows:
            return self.flows[name]
        for flow in self.flows.values():
            if any(isinstance(t, CommandTrigger) and t.command == name for t in flow.triggers):
                return flow
        return None

    async def start(self, ctx: Context, args: tuple[str, ...]) -> None:
        language = ctx.language
        if not args:
            words = self.command_words(language)
            example = words[0] if words else "..."
            await self.outgoing.reply(ctx, say("start_which", language, example=example))
            return
        flow = self.find_flow(args[0])
        if flow is None:
            known = self.command_words(language) + self.commands + list(self.flows)
            close = difflib.get_close_matches(args[0].lower(), known, 1)
            hint = say("did_you_mean", language, name=close[0]) if close else ""
            text = say(
                "unknown_flow",
                language,
                name=args[0],
                hint=hint,
                flows=", ".join(self.command_words(language)),
            )
            await self.outgoing.reply(ctx, text)
            return
        assert ctx.member is not None
        await self.runs.start_flow(ctx.team, flow, by=ctx.member.user, inbox_id=ctx.inbox.id)

    def role_ids(self) -> list[str]:
        """The roles a team can give: those its flows use, plus chair and coordinator."""
        used = {r for f in self.flows.values() for r in f.roles}
        return [*TEAM_ROLES, *sorted(used - set(TEAM_ROLES))]

    def read_role(self, word: str) -> str | None:
        """The role id a typed word names (its id, or its name in Dutch or English)."""
        typed = _plain(word)
        for role in self.role_ids():
            names = (role, role_name(role, "nl"), role_name(role, "en"))
            if typed in {_plain(name) for name in names}:
                return role
        return None

    async def role(self, ctx: Context, args: tuple[str, ...]) -> None:
        """`/samen rol @anna voorzitter` adds a role; `-voorzitter` or `geen voorzitter`
        takes it away. Only coordinators; nobody gives themselves a role (but a team's
        only coordinator); a team keeps at least one coordinator."""
        language = ctx.language
        if len(args) < 2:
            await self.outgoing.reply(ctx, say("role_usage", language))
            return
        coordinators = await self.first_coordinators(ctx.team)
        if ctx.member is None or ctx.member.user not in coordinators:
            await self.outgoing.reply(ctx, say("not_allowed_settings", language))
            return
        # A Matrix id keeps its "@" (@anna:example.org); elsewhere "@" only marks a mention.
        typed = args[0] if args[0].startswith("@") and ":" in args[0] else args[0].lstrip("@")
        # Platform ids are case-sensitive (Slack's U0ANNA); console names are typed loosely.
        target = await self.store.get_member(ctx.team.id, typed)
        if target is None:
            target = await self.store.get_member(ctx.team.id, typed.lower())
        if target is None or target.left_at is not None:
            await self.outgoing.reply(ctx, say("unknown_member", language, name=args[0]))
            return
        add: list[str] = []
        remove: list[str] = []
        taking = False
        for word in args[1:]:
            if _plain(word) in NOT_WORDS:
                taking = True
                continue
            off = taking or word.startswith("-")
            role = self.read_role(word.lstrip("-"))
            if role is None:
                await self.outgoing.reply(ctx, self.unknown_role(word.lstrip("-"), language))
                return
            (remove if off else add).append(role)
            taking = False
        # Nobody gives themselves a role; only a team's one coordinator, having nobody to
        # ask, may take on a flow's role (the chair of a meeting they run alone).
        if add and target.user == ctx.member.user and coordinators != {ctx.member.user}:
            await self.outgoing.reply(ctx, say("role_self", language))
            return
        if COORDINATOR in remove and COORDINATOR in target.roles:
            others = [
                m
                for m in await self.store.members(ctx.team.id)
                if COORDINATOR in m.roles and m.user != target.user
            ]
            if not others:
                await self.outgoing.reply(ctx, say("role_last_coordinator", language))
                return
        roles = [r for r in target.roles if r not in remove]
        roles += [r for r in add if r not in roles]
        updated = await self.store.set_roles(ctx.team.id, target.user, roles)
        text = say(
            _ROLE_SET[min(len(updated.roles), 2)],
            language,
            name=updated.name or target.user,
            roles=i18n.join((role_name(r, language) for r in updated.roles), language),
        )
        await self.outgoing.reply(ctx, text)

    def role_list(self, roles: Sequence[str], language: str) -> str:
        return ", ".join(role_name(r, language) for r in roles) or say("role_none", language)

    def unknown_role(self, word: str, language: str) -> str:
        names = {_plain(role_name(r, language)): role_name(r, language) for r in self.role_ids()}
        close = difflib.get_close_matches(_plain(word), list(names), 1)
        hint = say("did_you_mean", language, name=names[close[0]]) if close else ""
        return say("role_unknown", language, hint=hint, roles=", ".join(names.values()))

    async def roles(self, ctx: Context, args: tuple[str, ...]) -> None:
        """`/samen rollen`: who has which role in the team."""
        language = ctx.language
        lines = [
            f"• {m.name or m.user}: {self.role_list(m.roles, language)}"
            for m in await self.store.members(ctx.team.id)
            if m.roles
        ]
        text = say("roles_list", language, lines="\n".join(lines) or say("nothing", language))
        await self.outgoing.reply(ctx, text)

    async def setting(self, ctx: Context, args: tuple[str, ...]) -> None:
        language = ctx.language
        if len(args) < 2:
            await self.outgoing.reply(ctx, say("setting_usage", language))
            return
        if not await self.may_change_settings(ctx):
            await self.outgoing.reply(ctx, say("not_allowed_settings", language))
            return
        name, value = args[0], " ".join(args[1:])
        try:
            if name == "hours":
                days, start, end = parse_work_hours(value)
                settings = {"work_days": days, "work_start": start, "work_end": end}
            elif name == "language":
                # nl-BE however it is typed (nl-be, NL-BE); unknown ones are refused below.
                settings = {name: LANGUAGE_CODES.get(value.casefold(), value)}
            else:
                settings = {name: value if name == "timezone" else value.lower()}
            team = await self.store.update_team(ctx.team.id, **settings)
        except ValueError:
            # The store's reason is for operators; the team hears it in its own words.
            await self.outgoing.reply(ctx, say(f"setting_bad.{name}", language, value=value))
            return
        shown = settings.get(name, value.strip())
        if name == "language":
            shown = say(f"language.{shown}", team.language)
        what = say(f"setting.{name}", team.language, value=shown)
        # Said in the team's new language, and delivered as such (the adapter's own words).
        told = replace(ctx, team=team)
        await self.outgoing.reply(told, say("setting_set", team.language, what=what))

    async def absent(self, ctx: Context, args: tuple[str, ...]) -> None:
        language = ctx.language
        words = [a for a in args if a.lower() not in ("tot", "until", "t/m")]
        until, problem = read_day(words, self.clock.now(), ctx.team.timezone)
        if until is None:
            if problem is WhenProblem.impossible_date:
                text = say("when_impossible_date", language, typed=" ".join(words[:2]))
            else:
                example = example_day(self.clock.now(), ctx.team.timezone, language)
                text = say("absent_usage", language, example=example)
            await self.outgoing.reply(ctx, text)
            return
        assert ctx.member is not None
        await self.store.set_absent(ctx.team.id, ctx.member.user, until)
        if until >= self.clock.now().astimezone(ZoneInfo(ctx.team.timezone)).date():
            # Runs going on stop waiting for them (they come back with /samen terug).
            await self.runs.tell_team_runs(ctx.team, MemberAbsent(ctx.member.user))
        await self.outgoing.reply(ctx, say("absent_set", language, until=until.isoformat()))

    async def present(self, ctx: Context, args: tuple[str, ...]) -> None:
        assert ctx.member is not None
        await self.store.set_absent(ctx.team.id, ctx.member.user, None)
        await self.runs.tell_team_runs(ctx.team, MemberAbsent(ctx.member.user, absent=False))
        await self.outgoing.reply(ctx, say("present_set", ctx.language))

    async def status(self, ctx: Context, args: tuple[str, ...]) -> None:
        language = ctx.language
        rows = await self.store.active_runs(ctx.team.id)
        names = [
            render_text(self.flows[r.flow_id].title, language)
            for r in rows
            if r.flow_id in self.flows
        ]
        due = await self.store.next_due()
        text = say(
            "status",
            language,
            runs=", ".join(names) or say("nothing", language),
            next=local_moment(due, ctx.team.timezone, language)
            if due
            else say("nothing", language),
        )
        await self.outgoing.reply(ctx, text)

    async def open(self, ctx: Context, args: tuple[str, ...]) -> None:
        """Each open form with the numbers its asker still has to answer, required first:
        in a team channel that team's, in their private chat those of all their teams."""
        assert ctx.member is not None
        forms = []
        for team in ctx.teams or (ctx.team,):
            suffix = f" ({team_label(team)})" if len(ctx.teams) > 1 else ""
            for row in await self.store.active_runs(team.id):
                run = Run.model_validate(row.state)
                flow = self.flows.get(run.flow_id)
                found = open_form(flow, run, ctx.member.user) if flow is not None else None
                if found is not None:
                    forms.append(replace(found, title=found.title + suffix))
        text = describe_open(forms, ctx.team.timezone, ctx.language, ctx.team.address)
        await self.outgoing.reply(ctx, text)
