"""`make bench`: run every benchmark and print one line per figure."""

from __future__ import annotations

from bench import engine_steps


def main() -> None:
    engine_steps.main()


if __name__ == "__main__":
    main()
