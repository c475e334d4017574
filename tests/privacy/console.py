"""What the privacy tests share: the project root and the console team of tests/runtime."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.console_team import Team

ROOT = Path(__file__).resolve().parent.parent.parent

__all__ = ["ROOT", "Team"]
