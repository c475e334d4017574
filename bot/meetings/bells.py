"""The virtual bell: `/bel` with its words (pauze, verder, +5, volgende, stop, proces,
time-out) goes to the meeting that is running in the team's channel."""

from __future__ import annotations

from bot.core.commands import UnknownBellCommand, parse_bell
from bot.core.model import PhaseStep
from bot.runtime.context import Context
from bot.runtime.feature import Feature
from bot.runtime.replies import first_word, say
from bot.runtime.router import Router
from bot.store.tables import TeamRow


class Bells(Feature):
    """Rings the bell of the team's meeting: the chair's words and the process bell."""

    def register(self, router: Router) -> None:
        router.on_bell(self.ring)

    async def ring(self, ctx: Context, args: str) -> None:
        assert ctx.member is not None
        language = ctx.language
        try:
            command = parse_bell(ctx.member.user, args)
        except UnknownBellCommand as error:
            text = say(
                "unknown_bell",
                language,
                typed=first_word(error.typed),
                words=", ".join(error.words),
            )
            await self.outgoing.reply(ctx, text)
            return
        run_id = await self.meeting(ctx.team)
        if run_id is None:
            await self.outgoing.reply(ctx, say("no_meeting", language))
            return
        await self.runs.advance(run_id, command, ctx.inbox.id)

    async def meeting(self, team: TeamRow) -> str | None:
        """The run the bell is for: the newest active run in a phase, else the newest."""
        rows = await self.store.active_runs(team.id)
        rows.sort(key=lambda r: r.created_at, reverse=True)
        for row in rows:
            flow = self.flows.get(row.flow_id)
            step = row.state.get("step")
            if (
                flow is not None
                and step
                and any(
                    isinstance(s, PhaseStep) and s.id == str(step).split("~")[0] for s in flow.steps
                )
            ):
                return row.id
        return rows[0].id if rows else None
