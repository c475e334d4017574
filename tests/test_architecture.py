"""The import rules of ARCHITECTURE.md, enforced: a pure core and one composition root."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "bot" / "core"

# Anything that does I/O, keeps time or talks to a platform or a database.
FORBIDDEN_IN_CORE = {
    "asyncio",
    "socket",
    "ssl",
    "subprocess",
    "threading",
    "multiprocessing",
    "os",
    "pathlib",
    "shutil",
    "tempfile",
    "io",
    "time",
    "logging",
    "sqlite3",
    "http",
    "urllib",
    "requests",
    "httpx",
    "aiohttp",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "alembic",
    "apscheduler",
    "slack_bolt",
    "slack_sdk",
    "telegram",
    "typer",
    "rich",
    "cryptography",
    "bot.store",
    "bot.runtime.inbox",
    "bot.runtime.scheduler",
    "bot.runtime.outbox",
    "bot.wiring",
    "bot.cli",
    "bot.config",
    "adapters",
}
# Calls that read the clock or the disk.
FORBIDDEN_CALLS = {"now", "utcnow", "today", "open", "monotonic", "perf_counter", "sleep"}


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


def _forbidden(module: str, rules: set[str]) -> bool:
    return any(module == rule or module.startswith(rule + ".") for rule in rules)


def _core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_the_core_has_modules_to_check() -> None:
    assert len(_core_files()) >= 8


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: p.name)
def test_the_core_imports_nothing_that_does_io(path: Path) -> None:
    bad = [
        f"{path.name}:{line} imports {m}"
        for m, line in _imports(path)
        if _forbidden(m, FORBIDDEN_IN_CORE)
    ]
    assert not bad, "bot/core must stay pure: " + "; ".join(bad)


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: p.name)
def test_the_core_never_reads_the_clock_or_the_disk(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", None)
            if name in FORBIDDEN_CALLS:
                bad.append(f"{path.name}:{node.lineno} calls {name}()")
    assert not bad, "time and files are arguments in bot/core: " + "; ".join(bad)


def test_bot_imports_adapters_only_in_the_composition_root() -> None:
    bad = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        if path.name == "wiring.py" and path.parent.name == "bot":
            continue
        bad += [
            f"{path.relative_to(ROOT)}:{line}"
            for m, line in _imports(path)
            if _forbidden(m, {"adapters"})
        ]
    assert not bad, "only bot/wiring.py may import adapters: " + "; ".join(bad)


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checker itself must be able to fail."""
    sample = tmp_path / "bad.py"
    sample.write_text("import asyncio\nfrom sqlalchemy import select\nimport adapters.console\n")
    mods = [m for m, _ in _imports(sample)]
    assert all(_forbidden(m, FORBIDDEN_IN_CORE) for m in mods)
