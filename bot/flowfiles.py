"""The flow library on disk: read flow files and the shared catalogue, and check them together.

The shell side of `bot/core/loader.py`: this module reads files; the loader and validator
stay pure. A broken file never stops the others from loading; its flow is just absent
from `FlowSet.flows` and its problems are in `FlowSet.problems`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.flowtest import FileResult, FlowTestError, run_test_file
from bot.core.graph import to_mermaid
from bot.core.loader import FlowReading, check_catalogue, read_flow, read_yaml
from bot.core.model import AfterFlowTrigger, CommandTrigger, Flow, StartFlowBody, StartFlowStep
from bot.core.problems import Problem, sorted_problems, suggestion
from bot.core.validate import file_stem

__all__ = [
    "CATALOGUE_FILE",
    "SHIPPED_FLOWS_DIR",
    "Drawing",
    "FlowSet",
    "draw_flows",
    "find_test_files",
    "flow_files",
    "library_paths",
    "load_flows",
    "load_library",
    "read_text",
    "run_test_path",
]

# The shared catalogue of texts in a flows directory; it is not a flow.
CATALOGUE_FILE = "catalogue.yaml"

# The flow library that comes with Samen: the project's `flows/` folder. A built package
# carries it as package data (`bot/shipped_flows/`, copied there by `setup.py` when the
# wheel is built), so that an installed Samen finds it from any directory; a source
# checkout (and an editable install) reads `flows/` at the project root.
_INSTALLED_FLOWS = Path(__file__).resolve().parent / "shipped_flows"
SHIPPED_FLOWS_DIR = (
    _INSTALLED_FLOWS
    if _INSTALLED_FLOWS.is_dir()
    else Path(__file__).resolve().parent.parent / "flows"
)


def load_library(flows_dir: Path | None = None) -> FlowSet:
    """The flows a running Samen uses: the organisation's own (SAMEN_FLOWS_DIR), checked,
    with the shipped library beside them (a shipped flow of the same id is replaced);
    without an own folder, the shipped library itself."""
    library = library_paths(flows_dir)
    own = [p for p in library if p.resolve() != SHIPPED_FLOWS_DIR.resolve()]
    return load_flows(own or library, context=library if own else ())


def library_paths(flows_dir: Path | None = None) -> list[Path]:
    """The folders of flows in play: the shipped library, then `flows_dir` (the
    organisation's own folder, SAMEN_FLOWS_DIR) when it is another folder that exists."""
    paths = [SHIPPED_FLOWS_DIR] if SHIPPED_FLOWS_DIR.is_dir() else []
    if (
        flows_dir is not None
        and flows_dir.is_dir()
        and (not paths or flows_dir.resolve() != SHIPPED_FLOWS_DIR)
    ):
        paths.append(flows_dir)
    return paths


@dataclass
class FlowSet:
    """The flows that loaded without errors, every problem found, and the catalogue."""

    flows: dict[str, Flow] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    catalogue: dict[str, dict[str, str]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)  # the flow files that were checked

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def read_text(path: Path) -> str | Problem:
    """The file's text, or a problem saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return Problem(str(path), 1, 1, "the file is not UTF-8 text; save it as UTF-8")
    except OSError as error:
        return Problem(str(path), 1, 1, f"cannot read the file: {error.strerror}")


def flow_files(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(flow files, catalogue files) named by `paths`: each directory's `*.yaml` directly
    inside it (not `tests/`, not the catalogue), and each file as given.

    Raises FileNotFoundError for a path that does not exist.
    """
    flows: list[Path] = []
    catalogues: list[Path] = []
    for path in paths:
        if path.is_dir():
            flows += sorted(
                p for p in path.glob("*.yaml") if p.is_file() and p.name != CATALOGUE_FILE
            )
            folder = path
        elif path.is_file():
            if path.name != CATALOGUE_FILE:
                flows.append(path)
            folder = path.parent
        else:
            raise FileNotFoundError(
                f"'{path}' does not exist; give a flow file or a directory of flows"
            )
        catalogue = folder / CATALOGUE_FILE
        if catalogue.is_file() and catalogue not in catalogues:
            catalogues.append(catalogue)
    return list(dict.fromkeys(flows)), catalogues


def load_flows(paths: Sequence[Path] = (Path("flows"),), context: Sequence[Path] = ()) -> FlowSet:
    """Every flow in `paths`, checked on its own and against the others.

    The flows in `context` (e.g. the shipped library when an organisation's folder is
    checked) are in play too: `paths` may start them, their command words and ids count
    as taken, and they are in `FlowSet.flows`; but only the files of `paths` are checked
    and counted, and only their problems are reported.
    """
    checked, own_catalogues = flow_files(paths)
    around, around_catalogues = flow_files(context)
    same = {p.resolve() for p in checked}
    # A flow of `paths` replaces the one of the same id in `context`: the organisation's
    # own `voorbereiding-huisbezoek.yaml` is used instead of the shipped one.
    own_ids = {file_stem(p.name) for p in checked}
    around = [p for p in around if p.resolve() not in same and file_stem(p.name) not in own_ids]
    catalogue_files = [*own_catalogues, *(c for c in around_catalogues if c not in own_catalogues)]
    files = [*around, *checked]
    shown = {str(p) for p in (*checked, *own_catalogues)}
    found = FlowSet(files=checked)
    for path in catalogue_files:
        text = read_text(path)
        if isinstance(text, Problem):
            found.problems.append(text)
            continue
        entries, problems = check_catalogue(text, str(path))
        found.problems += problems
        for key, texts in entries.items():
            found.catalogue.setdefault(key, texts)
    readings: list[FlowReading] = []
    for path in files:
        text = read_text(path)
        if isinstance(text, Problem):
            found.problems.append(text)
            continue
        reading = read_flow(text, str(path), found.catalogue)
        readings.append(reading)
        found.problems += reading.problems
    # Flows beside a file that was checked on its own exist too: `start_flow` may name them.
    folders = {p.parent for p in files} | {p for p in paths if p.is_dir()}
    neighbours = [
        p for folder in folders for p in folder.glob("*.yaml") if p.name != CATALOGUE_FILE
    ]
    cross = _cross_flow_problems(readings, [*files, *neighbours])
    for k, reading in enumerate(readings):
        more = cross.get(k, [])
        found.problems += more
        broken = reading.errors or any(p.severity == "error" for p in more)
        if reading.flow is not None and not broken:
            found.flows[reading.flow.id] = reading.flow
    found.problems = sorted_problems([p for p in found.problems if p.path in shown])
    return found


def _cross_flow_problems(
    readings: Sequence[FlowReading], files: Sequence[Path]
) -> dict[int, list[Problem]]:
    """Per reading: flows it names must exist (as a reading or one of `files`), and its
    id and command words must be unique."""
    problems: dict[int, list[Problem]] = {}
    first_command: dict[str, str] = {}
    for k, reading in enumerate(readings):
        if reading.flow is None:
            continue
        for t, trigger in enumerate(reading.flow.triggers):
            if not isinstance(trigger, CommandTrigger):
                continue
            word, owner = trigger.command, f"flow '{reading.flow.id}' ({reading.source.file})"
            if word in first_command and first_command[word] != owner:
                problems.setdefault(k, []).append(
                    reading.source.error(
                        ("triggers", t, "command"),
                        f"the command word '{word}' also starts {first_command[word]}; "
                        f"'/samen start {word}' must start one flow: choose another word",
                    )
                )
            else:
                first_command.setdefault(word, owner)
    # A flow whose file is broken still exists: naming it is not a second mistake.
    known = {stem for f in files if (stem := file_stem(f.name)) is not None}
    first_file: dict[str, str] = {}
    for k, reading in enumerate(readings):
        flow = reading.flow
        if flow is None:
            continue
        known.add(flow.id)
        if flow.id in first_file:
            problems.setdefault(k, []).append(
                reading.source.error(
                    ("id",),
                    f"the flow id '{flow.id}' is also used by {first_file[flow.id]}; "
                    "flow ids must be unique",
                )
            )
        else:
            first_file[flow.id] = reading.source.file
    for k, reading in enumerate(readings):
        flow = reading.flow
        if flow is None:
            continue
        named: list[tuple[str, tuple[object, ...], str]] = []
        for t, trigger in enumerate(flow.triggers):
            if isinstance(trigger, AfterFlowTrigger):
                named.append((trigger.after_flow, ("triggers", t, "after_flow"), "after_flow"))
        if flow.time_out is not None:
            named.append((flow.time_out, ("time_out",), "time_out"))
        for i, step in enumerate(flow.steps):
            if isinstance(step, StartFlowStep):
                body = step.start_flow
                if isinstance(body, StartFlowBody):
                    named.append((body.flow, ("steps", i, "start_flow", "flow"), "start_flow"))
                else:
                    named.append((body, ("steps", i, "start_flow"), "start_flow"))
        for flow_id, loc, what in named:
            if flow_id not in known:
                problems.setdefault(k, []).append(
                    reading.source.error(
                        loc,
                        f"{what}: there is no flow '{flow_id}'"
                        f"{suggestion(flow_id, known - {flow.id})}; a flow is a file in the "
                        "flows directory named after its id",
                    )
                )
    return problems


# --------------------------------------------------------------------------- drawings


@dataclass(frozen=True)
class Drawing:
    """One flow file drawn: its name, its Mermaid chart ("" when the file is no flow at
    all) and its errors (the steps they point into are drawn in red)."""

    name: str
    chart: str
    errors: list[Problem]


def draw_flows(path: Path, context: Sequence[Path], language: str) -> list[Drawing]:
    """The flow file at `path`, or every flow in the folder `path`, drawn; a flow with
    errors is drawn as far as it can be read, its broken steps marked."""
    found = load_flows([path], context=context)
    drawings = []
    for file in found.files:
        errors = [p for p in found.errors if p.path == str(file)]
        text = read_text(file)
        reading = None if isinstance(text, Problem) else read_flow(text, str(file), found.catalogue)
        flow = reading.drawable if reading is not None else None
        chart = "" if flow is None else to_mermaid(flow, language, reading.broken_steps(errors))
        drawings.append(Drawing(flow.id if flow else file.name, chart, errors))
    return drawings


# --------------------------------------------------------------------------- flow tests


def find_test_files(paths: Sequence[Path]) -> list[Path]:
    """Flow test files named by `paths`: `*.test.yaml` files as given, or every one in a
    directory's `tests/` folder (or the directory itself when it is a tests folder).

    Raises FileNotFoundError for a path that does not exist.
    """
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        if path.is_file():
            found.append(path)
            continue
        folder = path if path.name == "tests" else path / "tests"
        if folder.is_dir():
            found += sorted(folder.glob("*.test.yaml"))
    return found


def run_test_path(path: Path, flows: dict[str, Flow]) -> FileResult:
    """Read one flow test file (with the flow loader's YAML rules) and run its cases."""
    text = read_text(path)
    if isinstance(text, Problem):
        raise FlowTestError(str(text))
    data, _, problems = read_yaml(text, str(path))
    if problems or not isinstance(data, dict):
        raise FlowTestError("; ".join(str(p) for p in problems) or f"{path}: not a mapping")
    return run_test_file(data, str(path), flows)
