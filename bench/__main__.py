"""`make bench`: run every benchmark and print one line per figure.

`python -m bench P2 P5` runs only those figures (in the order given).
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
from collections.abc import Callable


def _p1() -> None:
    from bench import slack_path

    slack_path.main()


def _p2() -> None:
    from bench import fanout

    fanout.main()


def _p3() -> None:
    from bench import acks

    acks.main()


def _p4() -> None:
    from bench import bells

    bells.main()


def _p5() -> None:
    from bench import restart

    restart.main()


def _p6() -> None:
    from bench import engine_steps

    engine_steps.main()


def _p7() -> None:
    from bench import working_day

    working_day.main()


FIGURES: dict[str, Callable[[], None]] = {
    "P1": _p1,
    "P2": _p2,
    "P3": _p3,
    "P4": _p4,
    "P5": _p5,
    "P6": _p6,
    "P7": _p7,
}


def main(argv: list[str] | None = None) -> None:
    chosen = [a.upper() for a in (sys.argv[1:] if argv is None else argv)] or list(FIGURES)
    unknown = [c for c in chosen if c not in FIGURES]
    if unknown:
        raise SystemExit(
            f"unknown figure(s): {', '.join(unknown)}; choose from {', '.join(FIGURES)}"
        )
    with tempfile.TemporaryDirectory(prefix="samen-bench-") as config:
        _installation_keys(config)
        for figure in chosen:
            FIGURES[figure]()


def _installation_keys(config: str) -> None:
    """The benchmarks are one installation of their own: a data key and an audit key for
    every store they open (so that a store reopened after its runtime stopped reads what
    that runtime sealed), and a configuration folder of their own, so that nothing is
    written into the user's ~/.config/samen."""
    os.environ["SAMEN_CONFIG_DIR"] = config
    for name in ("SAMEN_DATA_KEY", "SAMEN_AUDIT_KEY"):
        os.environ.setdefault(name, base64.b64encode(os.urandom(32)).decode())


if __name__ == "__main__":
    main()
