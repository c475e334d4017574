"""The flow language as typed values: a Flow and its triggers, steps and questions.

These pydantic models are the single definition of what a flow file may say. The loader
(`loader.py`) turns YAML into them, `samen flows schema` prints their JSON Schema for
editors, and the engine reads them. They are frozen: a loaded flow never changes.

Durations, offsets and cron expressions are kept as the author wrote them (strings) and
parsed by `timing.py`; the validator reports a bad one with its file:line:column.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

DEFAULT_LANGUAGE = "nl"

# Roles every team has without declaring them: everyone in the team is a member.
BUILTIN_ROLES = frozenset({"member"})


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- texts


class CatalogueRef(_Model):
    """A text taken from the shared catalogue (`flows/catalogue.yaml`) by key."""

    catalogue: str = Field(description="Key of a text in flows/catalogue.yaml.")


# A user-facing text: per language (`nl` required; `en`, `nl-BE`, ... allowed), or a
# catalogue key. A bare string is Dutch only. The forms are tried in this order: in
# pydantic's default "smart" mode `{catalogue: key}` fits `dict[str, str]` exactly and
# would never become a CatalogueRef.
Text = Annotated[str | CatalogueRef | dict[str, str], Field(union_mode="left_to_right")]


# --------------------------------------------------------------------------- questions


class AnswerType(StrEnum):
    text = "text"
    choice = "choice"
    multi = "multi"
    scale = "scale"
    yesno = "yesno"
    date = "date"
    number = "number"
    people = "people"


class Visibility(StrEnum):
    """Who may see an answer outside the database (R-PRV-3)."""

    private = "private"  # only the person who gave it
    chair = "chair"  # that person and the chair (and coordinator)
    team = "team"  # everyone in the team thread


class Option(_Model):
    id: str = Field(description="Stable id of the option, used in branches and exports.")
    text: Text


class Question(_Model):
    id: str
    type: AnswerType
    text: Text
    help: Text | None = None
    options: tuple[Option, ...] = Field(default=(), description="For choice and multi.")
    min: int | None = Field(default=None, description="Scale start, or lowest number.")
    max: int | None = Field(default=None, description="Scale end, or highest number.")
    labels: dict[int, Text] = Field(default_factory=dict, description="Scale labels.")
    optional: bool = False
    not_applicable: bool = Field(default=False, description="Offer 'n.v.t.' as an answer.")
    visibility: Visibility = Visibility.team
    anonymous: bool = Field(default=False, description="Never show who gave the answer.")
    options_from: str | None = Field(
        default=None,
        description="Choice or multi: the options are the answers given so far in this run "
        "to this earlier text question ('step.question'), each with who gave it unless "
        "that question is anonymous.",
    )
    gives_role: str | None = Field(
        default=None,
        description="People question (or a choice among the team's answers, options_from): "
        "the people chosen hold this role for the rest of the run (e.g. presenter), usable "
        "in every `to:` and `except:`.",
    )


# --------------------------------------------------------------------------- destinations

# Where a message goes: "channel" (the team channel), "thread" (the run's thread under its
# first announcement), "starter" (the person who started the run), or a role name (each
# person holding it, by direct message).
Target = str


# --------------------------------------------------------------------------- steps


class _StepBase(_Model):
    id: str = Field(description="Unique within the flow; lower-case, digits, - and _.")
    next: str | None = Field(
        default=None, description="Step to go to afterwards; default: the next in the list."
    )


class SayBody(_Model):
    to: Target = "thread"
    except_: tuple[str, ...] = Field(
        default=(),
        alias="except",
        description="Roles left out: e.g. to: member, except: [presenter].",
    )
    text: Text


class SayStep(_StepBase):
    say: SayBody


class AskBody(_Model):
    to: Target = "starter"
    except_: tuple[str, ...] = Field(
        default=(),
        alias="except",
        description="Roles left out: e.g. to: member, except: [presenter].",
    )
    question: Question
    timeout: str | None = Field(
        default=None, description="Go on without an answer after this long (e.g. 1d)."
    )


class AskStep(_StepBase):
    ask: AskBody


class CollectBody(_Model):
    to: tuple[str, ...] = Field(
        default=(), description="Roles asked; default: the flow's participants."
    )
    except_: tuple[str, ...] = Field(
        default=(),
        alias="except",
        description="Roles left out: e.g. to: member, except: [presenter].",
    )
    intro: Text | None = None
    questions: tuple[Question, ...]
    deadline: str = Field(
        description="'3d' (after the step starts), or '2h before event' / '1h after event'."
    )
    reminders: tuple[str, ...] = Field(
        default=(), description="Times before the deadline to remind non-responders."
    )


class CollectStep(_StepBase):
    collect: CollectBody


class Agenda(StrEnum):
    """Lists the shell fills in when a run starts, for a phase to show."""

    evaluations = "evaluations"  # the team's due and overdue evaluations, by client code


class Advance(StrEnum):
    auto = "auto"  # the bell ends the phase and the next step starts
    chair = "chair"  # the bell rings, the phase waits for the chair's "next"


class PhaseBody(_Model):
    title: Text
    duration: str
    prompts: tuple[Text, ...] = ()
    warnings: tuple[str, ...] = Field(
        default=("5m", "1m"), description="Offsets before the phase ends."
    )
    advance: Advance = Advance.auto
    questions: tuple[Question, ...] = Field(
        default=(),
        description="Asked privately while the phase runs; the phase's clock (bell, "
        "warnings, pause, +N) is their deadline.",
    )
    to: tuple[str, ...] = Field(
        default=(), description="Roles asked the questions; default: the flow's participants."
    )
    except_: tuple[str, ...] = Field(
        default=(),
        alias="except",
        description="Roles left out: e.g. to: member, except: [presenter].",
    )
    end_when_answered: bool = Field(
        default=False,
        description="End the phase as soon as everyone asked has answered every required "
        "question (default: it runs its full time).",
    )
    agenda: Agenda | None = Field(
        default=None,
        description="Show a list the shell fills in when the run starts: 'evaluations' "
        "(the team's due and overdue evaluations, by client code, as of the event's day).",
    )


class PhaseStep(_StepBase):
    phase: PhaseBody


class RoundBody(_Model):
    to: tuple[str, ...] = ()
    except_: tuple[str, ...] = Field(
        default=(),
        alias="except",
        description="Roles left out: e.g. to: member, except: [presenter].",
    )
    question: Question
    turn: str | None = Field(default=None, description="Time per person before moving on.")


class RoundStep(_StepBase):
    round: RoundBody


class SummaryShow(StrEnum):
    answers = "answers"
    missing = "missing"
    divergence = "divergence"
    process_bells = "process_bells"


class SummaryBody(_Model):
    to: Target = "thread"
    title: Text | None = None
    of: tuple[str, ...] = Field(default=(), description="Steps summarised; default: all.")
    show: tuple[SummaryShow, ...] = (
        SummaryShow.answers,
        SummaryShow.missing,
        SummaryShow.divergence,
    )
    template: Text | None = Field(
        default=None,
        description="Optional Jinja template (sandboxed) per language. It sees title, "
        "questions, missing, missing_count, absent and process_bells (docs/flows.md, "
        "Templates); any other name is an error.",
    )


class SummaryStep(_StepBase):
    summary: SummaryBody


class Condition(_Model):
    """A declarative test on an answer; never evaluated as code (R-SEC-6)."""

    answer: str = Field(description="'step.question', or 'step' for an ask step.")
    equals: str | int | bool | None = None
    in_: tuple[str | int, ...] | None = Field(default=None, alias="in")
    at_least: int | None = None
    at_most: int | None = None
    answered: bool | None = None
    who: Literal["any", "all"] = "any"


class BranchCase(_Model):
    when: Condition | None = None
    all: tuple[Condition, ...] | None = None
    any: tuple[Condition, ...] | None = None
    goto: str


class BranchOtherwise(_Model):
    otherwise: str


class BranchStep(_StepBase):
    branch: tuple[BranchCase | BranchOtherwise, ...]


class StartFlowBody(_Model):
    flow: str
    participants: Literal["same", "team"] = "same"


class StartFlowStep(_StepBase):
    start_flow: StartFlowBody | str


class WaitBody(_Model):
    for_: str | None = Field(default=None, alias="for")
    until: str | None = Field(default=None, description="e.g. '30m after event'.")


class WaitStep(_StepBase):
    wait: WaitBody


class EndBody(_Model):
    text: Text | None = None


class EndStep(_StepBase):
    end: EndBody | None = None


STEP_KINDS: tuple[str, ...] = (
    "say",
    "ask",
    "collect",
    "phase",
    "round",
    "summary",
    "branch",
    "start_flow",
    "wait",
    "end",
)


def step_kind_of(value: Any) -> str | None:
    """Which step kind a raw mapping (or a Step) is: the one kind key it carries."""
    if isinstance(value, dict):
        found = [k for k in STEP_KINDS if k in value]
    else:
        # Anything else that is not a Step (a string written where a step belongs) has no
        # kind; pydantic then reports it instead of crashing on a missing model_fields.
        fields = getattr(type(value), "model_fields", {})
        found = [k for k in STEP_KINDS if k in fields]
    return found[0] if len(found) == 1 else None


Step = Annotated[
    Annotated[SayStep, Tag("say")]
    | Annotated[AskStep, Tag("ask")]
    | Annotated[CollectStep, Tag("collect")]
    | Annotated[PhaseStep, Tag("phase")]
    | Annotated[RoundStep, Tag("round")]
    | Annotated[SummaryStep, Tag("summary")]
    | Annotated[BranchStep, Tag("branch")]
    | Annotated[StartFlowStep, Tag("start_flow")]
    | Annotated[WaitStep, Tag("wait")]
    | Annotated[EndStep, Tag("end")],
    Discriminator(step_kind_of),
]


# --------------------------------------------------------------------------- triggers


class CommandTrigger(_Model):
    command: str = Field(description="Started with `/samen start <command>`.")


class ScheduleTrigger(_Model):
    schedule: str = Field(description="Cron (min hour day month weekday), team time zone.")


class EventTrigger(_Model):
    event: str = Field(description="Kind of registered event: visit, mdo, meeting, ...")
    before: str | None = None
    after: str | None = None


class AfterFlowTrigger(_Model):
    after_flow: str


class Cadence(_Model):
    anchor: str = Field(default="start", description="The anchor date, e.g. a treatment start.")
    at: tuple[str, ...] = Field(default=(), description="Offsets after the anchor: 12 months.")
    then_every: str | None = None


class CadenceTrigger(_Model):
    cadence: Cadence


Trigger = CommandTrigger | ScheduleTrigger | EventTrigger | AfterFlowTrigger | CadenceTrigger


# --------------------------------------------------------------------------- flow


class Permissions(_Model):
    start: tuple[str, ...] = Field(default=("member",), description="Roles that may start.")
    bell: tuple[str, ...] = Field(
        default=("chair",), description="Roles that pause, extend, skip and end phases."
    )
    process_bell: tuple[str, ...] = Field(
        default=("member",), description="Roles that may ring the process bell."
    )
    see_answers: tuple[str, ...] = ("chair",)
    see_missing: tuple[str, ...] = ("chair",)


class Flow(_Model):
    id: str
    version: int = 1
    title: Text
    description: Text | None = None
    languages: tuple[str, ...] = (DEFAULT_LANGUAGE,)
    roles: tuple[str, ...] = Field(default=(), description="Roles this flow uses.")
    participants: tuple[str, ...] = Field(default=("member",), description="Roles that take part.")
    permissions: Permissions = Permissions()
    triggers: tuple[Trigger, ...] = ()
    time_out: str | None = Field(
        default=None,
        description="Flow started by `/bel time-out`; the phase's clock pauses until it ends.",
    )
    retention_days: int = Field(default=90, ge=1)
    steps: tuple[Step, ...] = Field(min_length=1)

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def next_step_id(self, step_id: str) -> str | None:
        """The explicit `next`, else the following step in the list, else None (end)."""
        ids = [s.id for s in self.steps]
        i = ids.index(step_id)
        explicit = self.steps[i].next
        if explicit is not None:
            return explicit
        return ids[i + 1] if i + 1 < len(ids) else None
