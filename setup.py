"""The build step that puts the flow library into the package.

Everything else about the distribution is in pyproject.toml. The shipped flows live in
`flows/` at the project root, where authors and reviewers find them; when a wheel is
built they are copied into the package as `bot/shipped_flows/` (package data), so that
an installed Samen finds them from any directory (bot.flowfiles.shipped_flows_dir).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def copy_flow_library(source: Path, build_lib: Path) -> list[Path]:
    """Copy the flow files (`*.yaml`, and the flow tests in `tests/`) of `source` to
    `bot/shipped_flows/` under `build_lib`; return the files written."""
    target = build_lib / "bot" / "shipped_flows"
    written = []
    for path in sorted([*source.glob("*.yaml"), *source.glob("tests/*.yaml")]):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        written.append(destination)
    return written


class BuildWithFlows(build_py):
    """`build_py`, and the flow library copied into the built package."""

    def run(self) -> None:
        super().run()
        copy_flow_library(ROOT / "flows", Path(self.build_lib))


if __name__ == "__main__":  # setuptools' build backend runs this file as __main__
    setup(cmdclass={"build_py": BuildWithFlows})
