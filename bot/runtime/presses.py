"""Is a button press on an answer still welcome? Read before the press is stored.

A press on a form of a run that is gone or has ended, or on a form posted in another
group than the run's team, cannot change anything. Telegram lets the adapter answer such
a press with a short notice on the button itself (answerCallbackQuery) instead of a chat
message that everyone in the group would see; `PressCheck.refusal` gives that notice's
text, in the team's language, or None when the press may go to the inbox. The inbox and
the engine still check everything (the run may end between the press and its turn).
"""

from __future__ import annotations

from bot.runtime.replies import say
from bot.store.repo import ACTIVE_RUN, Store


class PressCheck:
    def __init__(self, store: Store, language: str = "nl") -> None:
        self.store = store
        self.language = language  # when the run and its team are gone

    async def refusal(self, run_id: str, user: str, channel: str) -> str | None:
        """The notice for a press by `user` in `channel` on a form of `run_id`, or None."""
        run = await self.store.load_run(run_id)
        team = await self.store.get_team(run.team_id) if run is not None else None
        if run is None or team is None:
            return say("bad_answer_target", self.language)
        if run.status != ACTIVE_RUN:
            return say("bad_answer_target", team.language)
        if not channel.startswith("dm:") and channel != team.channel:
            return say("bad_answer_target", team.language)  # a form of another group
        return None
