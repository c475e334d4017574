"""Driving a real `samen run` process (console adapter) from a test: type lines into its
stdin, wait for what it prints, end it with EOF or kill it with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
SAMEN = ROOT / ".venv" / "bin" / "samen"


def samen() -> str:
    """The installed `samen` command, which these tests run as a real process."""
    assert SAMEN.exists(), f"{SAMEN} is missing: run `make test`, which installs the project"
    return str(SAMEN)


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment without Samen's or the platforms' settings, with a data
    directory of the test's own."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SAMEN_", "SLACK_", "TELEGRAM_"))
    }
    env.update(SAMEN_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1", **extra)
    return env


class SamenProcess:
    """One `samen run` process: type lines into it, read what it printed, stop or kill it."""

    def __init__(self, env: dict[str, str], *options: str) -> None:
        self.proc = subprocess.Popen(
            [samen(), "run", *options],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()

    def type(self, *lines: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(line + "\n" for line in lines))
        self.proc.stdin.flush()

    def wait_for(self, text: str, times: int = 1, timeout: float = 15.0) -> None:
        """Until `text` has been printed `times` times (in any lines)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while sum(line.count(text) for line in self.out) < times:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(
                        f"{text!r} not printed {times}x within {timeout}s\n"
                        f"{self.said()}\n{self.errors()}"
                    )
                self._changed.wait(min(left, 0.2))

    def finish(self, timeout: float = 30.0) -> int:
        """Close stdin (EOF) and wait for the process to end by itself."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=timeout)
        self._join()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._join()

    def _join(self) -> None:
        for reader in self._readers:
            reader.join(timeout=5)

    def said(self) -> str:
        return "\n".join(self.out)

    def errors(self) -> str:
        return "\n".join(self.err)
