"""The team's own commands: /samen help, start, rol, instellingen, afwezig, aanwezig,
status and open, and the answer to a mention or to the bot being added."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import replace

from bot.core import i18n
from bot.core.commands import FLOW_WORDS_EN, english_flow_word, parse_work_hours
from bot.core.model import CommandTrigger, Flow
from bot.core.open_list import describe_open, open_form
from bot.core.render import text as render_text
from bot.core.run import Run
from bot.core.when import parse_date
from bot.runtime.context import Context
from bot.runtime.feature import Feature
from bot.runtime.outgoing import Outgoing
from bot.runtime.replies import local_moment, say
from bot.runtime.router import Router
from bot.runtime.runs import Runs
from bot.store.repo import Store

# Role words people type, in Dutch, to the role ids flows use.
ROLE_WORDS = {
    "voorzitter": "chair",
    "coordinator": "coordinator",
    "coördinator": "coordinator",
    "inbrenger": "presenter",
    "behandelaar": "owner",
    "eigenaar": "owner",
    "deelnemer": "participant",
    "tijdsbewaker": "timekeeper",
}


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
        router.command("setting", self.setting)
        router.command("absent", self.absent)
        router.command("present", self.present)
        router.command("status", self.status)
        router.command("open", self.open)
        router.event("mention", self.mentioned)
        router.event("bot_added", self.added)

    async def may_change_settings(self, ctx: Context) -> bool:
        """A team without a coordinator is set up by anyone; after that, by coordinators."""
        members = await self.store.members(ctx.team.id)
        coordinators = {m.user for m in members if "coordinator" in m.roles}
        return not coordinators or (ctx.member is not None and ctx.member.user in coordinators)

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
        await self.outgoing.reply(ctx, say("bot_added", ctx.language))

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

    async def role(self, ctx: Context, args: tuple[str, ...]) -> None:
        language = ctx.language
        if len(args) < 2:
            await self.outgoing.reply(ctx, say("role_usage", language))
            return
        if not await self.may_change_settings(ctx):
            await self.outgoing.reply(ctx, say("not_allowed_settings", language))
            return
        typed = args[0].lstrip("@")
        # Platform ids are case-sensitive (Slack's U0ANNA); console names are typed loosely.
        target = await self.store.get_member(ctx.team.id, typed)
        if target is None:
            target = await self.store.get_member(ctx.team.id, typed.lower())
        if target is None:
            await self.outgoing.reply(ctx, say("unknown_member", language, name=args[0]))
            return
        roles = [ROLE_WORDS.get(r.lower(), r.lower()) for r in args[1:]]
        updated = await self.store.set_roles(ctx.team.id, target.user, roles)
        text = say(
            "role_set.one" if len(updated.roles) == 1 else "role_set.many",
            language,
            name=updated.name or target.user,
            roles=i18n.join((i18n.role_name(r, language) for r in updated.roles), language) or "—",
        )
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
        until = parse_date(words[0]) if words else None
        if until is None:
            await self.outgoing.reply(ctx, say("absent_usage", language))
            return
        assert ctx.member is not None
        await self.store.set_absent(ctx.team.id, ctx.member.user, until)
        await self.outgoing.reply(ctx, say("absent_set", language, until=until.isoformat()))

    async def present(self, ctx: Context, args: tuple[str, ...]) -> None:
        assert ctx.member is not None
        await self.store.set_absent(ctx.team.id, ctx.member.user, None)
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
        """Each open form with the numbers its asker still has to answer, required first."""
        assert ctx.member is not None
        forms = []
        for row in await self.store.active_runs(ctx.team.id):
            run = Run.model_validate(row.state)
            flow = self.flows.get(run.flow_id)
            found = open_form(flow, run, ctx.member.user) if flow is not None else None
            if found is not None:
                forms.append(found)
        text = describe_open(forms, ctx.team.timezone, ctx.language, ctx.team.address)
        await self.outgoing.reply(ctx, text)
