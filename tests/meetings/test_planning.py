"""Reading the words after `/samen bezoek <datum> <tijd>`: mentions and a pseudonym."""

from __future__ import annotations

import pytest

from bot.meetings.planning import PlanExtras, event_code, pseudonym_problem, read_plan_extras


@pytest.mark.parametrize(
    ("words", "extras"),
    [
        ((), PlanExtras()),
        (("@anna", "@bram"), PlanExtras(("anna", "bram"))),
        (("<@U012AB|anna>", "@anna", "<@U012AB>"), PlanExtras(("U012AB", "anna"))),
        (("cliënt", "K-12", "@anna"), PlanExtras(("anna",), "K-12")),
        (("@anna", "client", "K-12"), PlanExtras(("anna",), "K-12")),
        (("morgen", "@anna"), PlanExtras(("anna",), None, ("morgen",))),
        (("cliënt",), PlanExtras((), None, ("cliënt",))),
    ],
)
def test_mentions_and_the_pseudonym_are_read_and_the_rest_is_named(
    words: tuple[str, ...], extras: PlanExtras
) -> None:
    assert read_plan_extras(words) == extras


@pytest.mark.parametrize(
    ("client", "problem"),
    [
        ("K-12", None),
        ("t0412", None),
        ("Jansen", "plan_client_name_like"),
        ("Van-Dijk", "plan_client_name_like"),
        ("111222333", "plan_client_name_like"),  # a BSN (passes the eleven-test)
        ("K", "plan_client_usage"),
        ("K 12", "plan_client_usage"),
    ],
)
def test_a_pseudonym_is_a_code_never_a_name(client: str, problem: str | None) -> None:
    assert pseudonym_problem(client) == problem


def test_the_event_code_is_the_start_of_its_id() -> None:
    assert event_code("3f9a2c0d11") == "3f9a2c"
