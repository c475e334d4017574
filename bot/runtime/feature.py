"""What every feature is made of: the store, the flows, the runs and the outgoing messages,
and a `register` that tells the router what the feature handles."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

from bot.core.model import Flow
from bot.runtime.outgoing import Outgoing
from bot.runtime.router import Router
from bot.runtime.runs import Runs
from bot.store.repo import Store


class Feature(ABC):
    """A capability of Samen (the team's commands, the bell, planning, ...): built by the
    composition root with what it needs, it tells the router what it handles."""

    def __init__(
        self, store: Store, flows: Mapping[str, Flow], runs: Runs, outgoing: Outgoing
    ) -> None:
        self.store = store
        self.flows = dict(flows)
        self.runs = runs
        self.outgoing = outgoing
        self.clock = runs.clock

    @abstractmethod
    def register(self, router: Router) -> None:
        """Tell `router` the words, timer kinds and hooks this feature handles."""
