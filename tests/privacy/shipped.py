"""The shipped flows plus one of a test's own, in a folder of the test."""

from __future__ import annotations

from pathlib import Path

from tests.harness.world import FLOWS


def flows_with(tmp_path: Path, name: str, text: str) -> Path:
    flows = tmp_path / "flows"
    flows.mkdir()
    for path in FLOWS.glob("*.yaml"):
        (flows / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (flows / f"{name}.yaml").write_text(text, encoding="utf-8")
    return flows
