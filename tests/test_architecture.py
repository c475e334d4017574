"""The layer contract of ARCHITECTURE.md, checked on the source: layers, cycles, privacy, size.

The checker parses every .py file under bot/ and adapters/ with `ast` and imports none of them.
It records every import (at module level, inside functions, under `if TYPE_CHECKING:`), resolves
relative imports against the file's package, and reports each broken rule as a `path:line: ...`
line. Each rule runs on the real tree, and on a small synthetic tree with one planted violation
to show that it can fail.
"""

from __future__ import annotations

import ast
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("bot", "adapters")

# Where each module lives: the longest path prefix that matches a file names its layer.
# config.py and flowfiles.py ("settings") sit just above the store: config.py takes the store's
# URL redaction, flowfiles.py reads flow files through the core; runtime and features read both.
LAYERS: dict[str, str] = {
    "bot/__init__.py": "core",
    "bot/core/": "core",
    "bot/store/": "store",
    "bot/config.py": "settings",
    "bot/flowfiles.py": "settings",
    "bot/runtime/": "runtime",
    "bot/teams/": "teams",
    "bot/meetings/": "meetings",
    "bot/trajectories/": "trajectories",
    "bot/privacy/": "privacy",
    "bot/wiring.py": "root",
    "bot/cli.py": "root",
    "bot/demo.py": "root",
    "adapters/": "adapters",
}

# What each layer may import of bot/ and adapters/: a layer name, or (with a dot) one module and
# its submodules. Features do not import one another: each registers what it handles with the
# router that wiring.py fills. Adapters translate, so they get the contract's values only.
BELOW_FEATURES = ("runtime", "settings", "store", "core")
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "core": ("core",),
    "store": ("store", "core"),
    "settings": ("settings", "store", "core"),
    "runtime": ("runtime", "settings", "store", "core"),
    "teams": ("teams", *BELOW_FEATURES),
    "meetings": ("meetings", *BELOW_FEATURES),
    "trajectories": ("trajectories", *BELOW_FEATURES),
    "privacy": ("privacy", *BELOW_FEATURES),
    "root": ("root", "adapters", "teams", "meetings", "trajectories", "privacy", *BELOW_FEATURES),
    "adapters": (
        "adapters",
        "core",
        "bot.config",  # an adapter reads its own tokens from Settings
        "bot.runtime.delivery",  # Delivery, DeliveryResult, Limits: the outbound contract
        "bot.runtime.clock",  # the console adapter runs on the bot's clock
        "bot.runtime.replies",  # the console adapter says its own lines in the bot's words
        "bot.teams.overview",  # the Slack Home tab draws a person's overview
    ),
}

# The core is pure: the standard library minus what does I/O, plus these pure libraries.
CORE_ALLOWLIST = (
    "yaml",
    "pydantic",
    "jinja2.sandbox",
    "jinja2.runtime",  # StrictUndefined: an undefined name in a template is an error
    "jinja2.exceptions",
    "jinja2.meta",  # the names a template uses, for `flows check`
    "dateutil",
    "babel",
)
CORE_NO_IO = frozenset(
    {
        "asyncio", "concurrent", "http", "io", "logging", "multiprocessing", "os", "pathlib",
        "select", "selectors", "shutil", "signal", "socket", "sqlite3", "ssl", "subprocess",
        "tempfile", "threading", "time", "urllib",
    }
)  # fmt: skip
# Calls that read the clock or the disk: in the core, time and files are arguments.
CLOCK_AND_DISK_CALLS = frozenset({"now", "utcnow", "today", "open", "monotonic", "perf_counter"})
MAX_LINES = 1_000


@dataclass(frozen=True)
class Import:
    """One imported name: `import module` (name None) or `from module import name`."""

    path: str  # the importing file, relative to the root: "bot/store/repo.py"
    line: int
    module: str  # absolute, relative imports resolved: "bot.core.model"
    name: str | None


@dataclass(frozen=True)
class Source:
    path: str
    module: str
    tree: ast.Module
    lines: int


def module_name(path: str) -> str:
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: str) -> str:
    """The package a file's relative imports start from (a package's __init__ is its own)."""
    module = module_name(path)
    return module if path.endswith("/__init__.py") else module.rpartition(".")[0]


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def is_ours(module: str) -> bool:
    return module.partition(".")[0] in SCANNED


def layer_of(path: str) -> str | None:
    prefixes = [p for p in LAYERS if path.startswith(p)]
    return LAYERS[max(prefixes, key=len)] if prefixes else None


def imports_in(source: Source) -> Iterator[Import]:
    package = package_of(source.path).split(".")
    for node in ast.walk(source.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(source.path, node.lineno, alias.name, None)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # `from ..store import x` in bot/runtime/a.py: bot.store
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            for alias in node.names:
                yield Import(source.path, node.lineno, module, alias.name)


class Project:
    """Every source file under bot/ and adapters/ of one root, parsed, with its imports."""

    def __init__(self, root: Path) -> None:
        self.sources: dict[str, Source] = {}
        for top in SCANNED:
            for file in sorted((root / top).rglob("*.py")):
                path = file.relative_to(root).as_posix()
                text = file.read_text(encoding="utf-8")
                tree = ast.parse(text, filename=path)
                source = Source(path, module_name(path), tree, len(text.splitlines()))
                self.sources[source.module] = source
        self.imports = [imp for s in self.sources.values() for imp in imports_in(s)]

    def target(self, imp: Import) -> str:
        """The module an import loads: `from pkg import sub` loads the submodule pkg.sub."""
        if imp.name is not None and f"{imp.module}.{imp.name}" in self.sources:
            return f"{imp.module}.{imp.name}"
        return imp.module

    def path_of(self, module: str) -> str:
        known = self.sources.get(module)
        return known.path if known else module.replace(".", "/") + ".py"


# --- The rules: each yields `path:line: message` lines ---------------------------------------


def core_imports(project: Project) -> Iterator[str]:
    """Rule 1: the core imports the standard library (no I/O) and its allowlist; bot.core is
    checked by the layer order."""
    for imp in project.imports:
        if layer_of(imp.path) != "core" or is_ours(imp.module):
            continue
        top = imp.module.partition(".")[0]
        where = f"{imp.path}:{imp.line}"
        if top in CORE_NO_IO:
            yield f"{where}: core imports {imp.module}, which does I/O; pass what it needs in"
        elif top in sys.stdlib_module_names:
            continue
        elif not any(
            within(imp.module, allowed) or within(f"{imp.module}.{imp.name}", allowed)
            for allowed in CORE_ALLOWLIST
        ):
            yield (
                f"{where}: core imports {imp.module}; core may import only the standard library,"
                f" bot.core and {', '.join(CORE_ALLOWLIST)}"
            )


def core_calls(project: Project) -> Iterator[str]:
    """The core never reads the clock or the disk itself."""
    for source in project.sources.values():
        if layer_of(source.path) != "core":
            continue
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", None)
                if name in CLOCK_AND_DISK_CALLS:
                    yield (
                        f"{source.path}:{node.lineno}: core calls {name}(); in the core,"
                        " time and files are arguments"
                    )


def layer_order(project: Project) -> Iterator[str]:
    """Rule 2: every module is in a layer and imports only what its layer may import."""
    for source in project.sources.values():
        if layer_of(source.path) is None:
            yield (
                f"{source.path}:1: {source.module} is in no layer; move it into a layer"
                " folder or add its path to LAYERS"
            )
    for imp in project.imports:
        target = project.target(imp)
        mine, theirs = layer_of(imp.path), layer_of(project.path_of(target))
        if not is_ours(target) or mine is None or theirs is None:
            continue
        allowed = MAY_IMPORT[mine]
        if theirs in allowed or any(within(target, a) for a in allowed if "." in a):
            continue
        yield (
            f"{imp.path}:{imp.line}: {mine} imports {target}, but {mine} may import only"
            f" {', '.join(allowed)}"
        )


def import_cycles(project: Project) -> Iterator[str]:
    """Rule 3: no import cycle among our modules; one shortest cycle is shown per knot."""
    edges: dict[str, dict[str, Import]] = {}
    for imp in project.imports:
        mine, target = module_name(imp.path), project.target(imp)
        if target in project.sources and target != mine:
            out = edges.setdefault(mine, {})
            if target not in out or imp.line < out[target].line:
                out[target] = imp
    reach = {module: _reachable(edges, module) for module in project.sources}
    done: set[str] = set()
    for module in sorted(project.sources):
        if module in done or module not in reach[module]:
            continue
        done |= {other for other in reach[module] if module in reach[other]}
        cycle = _shortest_cycle(edges, module)
        steps = [edges[a][b] for a, b in pairwise(cycle)]
        yield (
            f"{steps[0].path}:{steps[0].line}: import cycle {' -> '.join(cycle)}"
            f" ({', '.join(f'{s.path}:{s.line}' for s in steps)}); move what both sides"
            " need into a lower module, or pass it in"
        )


def _reachable(edges: dict[str, dict[str, Import]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(edges.get(start, ()))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(edges.get(module, ()))
    return seen


def _shortest_cycle(edges: dict[str, dict[str, Import]], start: str) -> list[str]:
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for nxt in sorted(edges.get(module, ())):
            if nxt == start:
                path = [module]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if nxt not in parent:
                parent[nxt] = module
                queue.append(nxt)
    raise AssertionError(f"{start} is on no cycle")


def private_names(project: Project) -> Iterator[str]:
    """Rule 4: no import of another module's `_private` name. A `_module` is private to its
    package; a package's __init__ re-exporting a private name is no exception."""
    for imp in project.imports:
        target = project.target(imp)
        if not is_ours(target):
            continue
        parts = target.split(".")
        owners = [".".join(parts[:i]) for i, part in enumerate(parts) if is_private(part)]
        where = f"{imp.path}:{imp.line}"
        if any(not within(package_of(imp.path), owner) for owner in owners):
            yield f"{where}: imports {target}, a module private to {owners[-1]}"
        elif imp.name is not None and target == imp.module and is_private(imp.name):
            yield (
                f"{where}: imports {imp.name} from {imp.module}, a private name of another"
                " module; make it public (drop the underscore) or move the code that uses it"
            )


def library_private_names(project: Project) -> Iterator[str]:
    """Rule 5: no reaching into a library's private names, by import or by attribute."""
    advice = "a private part of a library that may change in any release; use its public API"
    for imp in project.imports:
        dotted = imp.module if imp.name is None else f"{imp.module}.{imp.name}"
        if not is_ours(imp.module) and any(is_private(part) for part in dotted.split(".")):
            yield f"{imp.path}:{imp.line}: reaches into {dotted}, {advice}"
    for source in project.sources.values():
        aliases = _library_aliases(source.tree)
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Attribute) and is_private(node.attr):
                root = node.value
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id in aliases:
                    yield f"{source.path}:{node.lineno}: reaches into {ast.unparse(node)}, {advice}"
            elif isinstance(node, ast.ClassDef):
                yield from _inherited_private_names(source.path, node, aliases, advice)


def _inherited_private_names(
    path: str, cls: ast.ClassDef, aliases: set[str], advice: str
) -> Iterator[str]:
    """`self._x` in a subclass of a library class, where the subclass never defines `_x`."""
    library_bases = [b for b in cls.bases if _root_name(b) in aliases]
    if not library_bases:
        return
    own = {n.name for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    for node in ast.walk(cls):
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        own |= {t.attr for t in targets if isinstance(t, ast.Attribute)}
        own |= {t.id for t in targets if isinstance(t, ast.Name)}
    base = ast.unparse(library_bases[0])
    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and is_private(node.attr)
            and node.attr not in own
        ):
            yield f"{path}:{node.lineno}: reaches into self.{node.attr} of {base}, {advice}"


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _library_aliases(tree: ast.Module) -> set[str]:
    """The names a file binds to things imported from libraries (stdlib or third-party)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {
                a.asname or a.name.partition(".")[0] for a in node.names if not is_ours(a.name)
            }
        elif isinstance(node, ast.ImportFrom) and not node.level and not is_ours(node.module or ""):
            names |= {a.asname or a.name for a in node.names}
    return names


def file_sizes(project: Project) -> Iterator[str]:
    """Rule 6: no source file over 1,000 lines."""
    for source in project.sources.values():
        if source.lines > MAX_LINES:
            yield (
                f"{source.path}:1: {source.lines:,} lines, over the limit of {MAX_LINES:,};"
                " split it by what its parts do"
            )


RULES: tuple[Callable[[Project], Iterator[str]], ...] = (
    core_imports,
    core_calls,
    layer_order,
    import_cycles,
    private_names,
    library_private_names,
    file_sizes,
)


def _by_place(message: str) -> tuple[str, int, str]:
    path, line, _ = message.split(":", 2)
    return path, int(line), message


def check(project: Project, *rules: Callable[[Project], Iterator[str]]) -> list[str]:
    """The violations of the given rules (all rules if none), sorted by file and line."""
    return sorted({m for rule in rules or RULES for m in rule(project)}, key=_by_place)


# --- The real tree keeps the rules -----------------------------------------------------------


@pytest.fixture(scope="module")
def tree() -> Project:
    return Project(ROOT)


def _none(found: list[str], rule: str) -> None:
    assert not found, f"{rule} ({len(found)}):\n" + "\n".join(found)


def _empty_layers(project: Project) -> list[str]:
    return [p for p in LAYERS if not any(s.path.startswith(p) for s in project.sources.values())]


def test_every_layer_in_the_table_has_modules(tree: Project) -> None:
    # A prefix that matches nothing means a rule silently checks nothing.
    assert not _empty_layers(tree), f"LAYERS names paths with no modules: {_empty_layers(tree)}"


def test_the_core_imports_only_the_standard_library_and_its_allowlist(tree: Project) -> None:
    _none(check(tree, core_imports), "bot/core is pure")


def test_the_core_never_reads_the_clock_or_the_disk(tree: Project) -> None:
    _none(check(tree, core_calls), "time and files are arguments in bot/core")


def test_the_tree_keeps_the_layer_order(tree: Project) -> None:
    _none(check(tree, layer_order), "imports run down the layers only")


def test_the_tree_has_no_import_cycle(tree: Project) -> None:
    _none(check(tree, import_cycles), "no import cycles")


def test_no_module_imports_another_modules_private_name(tree: Project) -> None:
    _none(check(tree, private_names), "no imports of private names")


def test_no_module_reaches_into_a_librarys_private_names(tree: Project) -> None:
    _none(check(tree, library_private_names), "libraries are used by their public API")


def test_no_source_file_is_over_a_thousand_lines(tree: Project) -> None:
    _none(check(tree, file_sizes), "files stay readable")


# --- Each rule fails on a planted violation --------------------------------------------------

# A small tree with every layer, clean, that uses what the rules allow: relative imports,
# function-level and TYPE_CHECKING imports downward, a package-private module, dunder names.
CLEAN: dict[str, str] = {
    "bot/__init__.py": '__version__ = "1"\n',
    "bot/core/__init__.py": "",
    "bot/core/_rows.py": "ROWS = 1\n",
    "bot/core/engine.py": (
        "from __future__ import annotations\n\nimport re\n"
        "from jinja2.sandbox import SandboxedEnvironment\n\nfrom . import _rows, model\n\n\n"
        "def _reply() -> None: ...\n"
    ),
    "bot/core/model.py": "from dataclasses import dataclass\n\nimport yaml\nimport pydantic\n",
    "bot/store/__init__.py": "",
    "bot/store/repo.py": "import sqlalchemy\n\nfrom ..core import model\n\nq = sqlalchemy.select\n",
    "bot/config.py": "from bot.store import repo\n",
    "bot/flowfiles.py": "from pathlib import Path\n\nfrom bot.core.model import yaml\n",
    "bot/runtime/__init__.py": "",
    "bot/runtime/delivery.py": "from bot.core import model\n",
    "bot/runtime/inbox.py": "from bot.store.repo import q\n",
    "bot/runtime/router.py": (
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
        "    from bot.runtime.inbox import q\n"
    ),
    "bot/teams/__init__.py": "",
    "bot/teams/overview.py": "from bot.runtime import router\nfrom bot import config\n",
    "bot/meetings/__init__.py": "",
    "bot/meetings/bells.py": "from ..runtime.router import TYPE_CHECKING\n",
    "bot/trajectories/__init__.py": "",
    "bot/trajectories/desk.py": "def later() -> None:\n    from bot.store import repo\n",
    "bot/privacy/__init__.py": "",
    "bot/privacy/guard.py": "from bot.flowfiles import Path\n",
    "bot/wiring.py": "from adapters import console\nfrom bot.meetings import bells\n",
    "bot/cli.py": "from bot import __version__, wiring\n",
    "bot/demo.py": "from bot.wiring import console\n",
    "adapters/__init__.py": "",
    "adapters/base.py": "from bot.core import model\nfrom bot.runtime.delivery import model as m\n",
    "adapters/console.py": (
        "from . import base\nfrom bot.config import repo\nfrom bot.teams import overview\n"
    ),
}


def _planted(root: Path, files: dict[str, str]) -> list[str]:
    for path, text in {**CLEAN, **files}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return check(Project(root))


def test_the_clean_synthetic_tree_has_every_layer_and_no_violation(tmp_path: Path) -> None:
    assert _planted(tmp_path, {}) == []
    assert _empty_layers(Project(tmp_path)) == []


CORE_ONLY = "core may import only the standard library, bot.core and " + ", ".join(CORE_ALLOWLIST)


@pytest.mark.parametrize(
    ("source", "report"),
    [
        ("import sqlalchemy\n", f"core imports sqlalchemy; {CORE_ONLY}"),
        ("from jinja2 import Environment\n", f"core imports jinja2; {CORE_ONLY}"),
        ("x = 1\nimport asyncio\n", "core imports asyncio, which does I/O; pass what it needs in"),
    ],
    ids=["sqlalchemy", "jinja2-outside-the-sandbox", "asyncio"],
)
def test_a_core_module_importing_beyond_its_allowlist_is_reported(
    tmp_path: Path, source: str, report: str
) -> None:
    line = source.count("\n")
    assert _planted(tmp_path, {"bot/core/bad.py": source}) == [f"bot/core/bad.py:{line}: {report}"]


def test_a_core_module_reading_the_clock_is_reported(tmp_path: Path) -> None:
    source = "from datetime import datetime\n\nNOW = datetime.now()\n"
    assert _planted(tmp_path, {"bot/core/bad.py": source}) == [
        "bot/core/bad.py:3: core calls now(); in the core, time and files are arguments"
    ]


LAYER_BREACHES = [
    ("bot/store/bad.py", "import bot.runtime.inbox\n", "store imports bot.runtime.inbox"),
    ("bot/store/bad.py", "from ..runtime import inbox\n", "store imports bot.runtime.inbox"),
    ("bot/core/bad.py", "from bot.store.repo import q\n", "core imports bot.store.repo"),
    ("bot/core/bad.py", "from bot import config\n", "core imports bot.config"),
    (
        "bot/runtime/bad.py",
        "def f():\n    from bot.teams import overview\n",
        "runtime imports bot.teams.overview",
    ),
    ("bot/teams/bad.py", "from bot.meetings.bells import x\n", "teams imports bot.meetings.bells"),
    ("adapters/bad.py", "from bot.store.repo import q\n", "adapters imports bot.store.repo"),
    ("adapters/bad.py", "from bot import wiring\n", "adapters imports bot.wiring"),
    ("adapters/bad.py", "from bot.runtime.inbox import q\n", "adapters imports bot.runtime.inbox"),
]


@pytest.mark.parametrize(
    ("path", "source", "report"),
    LAYER_BREACHES,
    ids=[
        "store-runtime",
        "store-runtime-relative",
        "core-store",
        "core-settings",
        "runtime-feature-in-a-function",
        "feature-feature",
        "adapters-store",
        "adapters-wiring",
        "adapters-runtime-plumbing",
    ],
)
def test_an_import_up_the_layers_is_reported(
    tmp_path: Path, path: str, source: str, report: str
) -> None:
    mine = report.partition(" ")[0]
    line = source.count("\n")
    expected = f"{path}:{line}: {report}, but {mine} may import only {', '.join(MAY_IMPORT[mine])}"
    assert _planted(tmp_path, {path: source}) == [expected]


def test_a_module_outside_every_layer_is_reported(tmp_path: Path) -> None:
    assert _planted(tmp_path, {"bot/helpers.py": "x = 1\n"}) == [
        "bot/helpers.py:1: bot.helpers is in no layer; move it into a layer folder"
        " or add its path to LAYERS"
    ]


CYCLE_ADVICE = "move what both sides need into a lower module, or pass it in"


def test_a_cycle_through_a_function_level_import_is_reported(tmp_path: Path) -> None:
    files = {
        "bot/runtime/a.py": "def later() -> None:\n    from bot.runtime import b\n",
        "bot/runtime/b.py": "from bot.runtime.a import later\n",
    }
    assert _planted(tmp_path, files) == [
        "bot/runtime/a.py:2: import cycle bot.runtime.a -> bot.runtime.b -> bot.runtime.a"
        f" (bot/runtime/a.py:2, bot/runtime/b.py:1); {CYCLE_ADVICE}"
    ]


def test_a_cycle_through_a_type_checking_import_is_reported(tmp_path: Path) -> None:
    # router.py imports inbox under TYPE_CHECKING in the clean tree; inbox closes the circle.
    files = {"bot/runtime/inbox.py": "x = 1\nfrom .router import TYPE_CHECKING\n"}
    assert _planted(tmp_path, files) == [
        "bot/runtime/inbox.py:2: import cycle bot.runtime.inbox -> bot.runtime.router"
        f" -> bot.runtime.inbox (bot/runtime/inbox.py:2, bot/runtime/router.py:4); {CYCLE_ADVICE}"
    ]


@pytest.mark.parametrize(
    ("path", "source", "report"),
    [
        (
            "bot/runtime/bad.py",
            "from bot.core.engine import _reply\n",
            "imports _reply from bot.core.engine, a private name of another module;"
            " make it public (drop the underscore) or move the code that uses it",
        ),
        (
            "bot/core/bad.py",
            "from . import _hidden\n",
            "imports _hidden from bot.core, a private name of another module;"
            " make it public (drop the underscore) or move the code that uses it",
        ),
        (
            "bot/runtime/bad.py",
            "import bot.core._rows\n",
            "imports bot.core._rows, a module private to bot.core",
        ),
        (
            "bot/runtime/bad.py",
            "from bot.core import _rows\n",
            "imports bot.core._rows, a module private to bot.core",
        ),
    ],
    ids=["a-function", "a-package-re-export", "a-private-module", "a-private-module-by-from"],
)
def test_importing_another_modules_private_name_is_reported(
    tmp_path: Path, path: str, source: str, report: str
) -> None:
    assert _planted(tmp_path, {path: source}) == [f"{path}:1: {report}"]


@pytest.mark.parametrize(
    ("source", "reached"),
    [
        ("from sqlalchemy.util._collections import y\n", "sqlalchemy.util._collections.y"),
        ("import telegram._utils.types\n", "telegram._utils.types"),
        ("from aiosqlite import _impl\n", "aiosqlite._impl"),
        ("import aiosqlite as lite\n\nlite.core._connection\n", "lite.core._connection"),
        (
            "import aiosqlite\n\n\nclass C(aiosqlite.Connection):\n    def f(self):\n"
            "        self._mine = 1\n        return self._mine, self._conn\n",
            "self._conn of aiosqlite.Connection",
        ),
    ],
    ids=[
        "from-a-private-module",
        "a-private-module",
        "a-private-name",
        "an-attribute",
        "inherited",
    ],
)
def test_reaching_into_a_librarys_private_names_is_reported(
    tmp_path: Path, source: str, reached: str
) -> None:
    line = source.count("\n")
    assert _planted(tmp_path, {"bot/store/bad.py": source}) == [
        f"bot/store/bad.py:{line}: reaches into {reached}, a private part of a library that may"
        " change in any release; use its public API"
    ]


def test_a_file_over_a_thousand_lines_is_reported(tmp_path: Path) -> None:
    files = {"bot/core/big.py": "x = 1\n" * 1_001, "bot/core/full.py": "x = 1\n" * 1_000}
    assert _planted(tmp_path, files) == [
        "bot/core/big.py:1: 1,001 lines, over the limit of 1,000; split it by what its parts do"
    ]
