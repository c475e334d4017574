"""A message too long for one platform message, split over several: never cut.

Pure. The split falls between paragraphs where it can, else between lines, else between
words; each part but a lone one ends with its place, "(1/3)", so that a reader sees more
follows. A summary of many answers is long; every answer must reach the group.
"""

from __future__ import annotations

_MARK_ROOM = len(" (99/99)")


def split_text(text: str, limit: int) -> list[str]:
    """`text` in parts of at most `limit` characters (marks included)."""
    if len(text) <= limit:
        return [text]
    room = max(limit - _MARK_ROOM, 1)
    parts: list[str] = []
    rest = text
    while len(rest) > room:
        cut = _cut_at(rest, room)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest:
        parts.append(rest)
    total = len(parts)
    return [f"{part}\n({n}/{total})" for n, part in enumerate(parts, 1)]


def _cut_at(text: str, room: int) -> int:
    """Where to cut `text` so the first part fits `room`: after a blank line, a line
    break or a space, as late as possible; a word longer than `room` is cut inside."""
    window = text[: room + 1]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator)
        if at > room // 4:  # not so early that parts become slivers
            return at + len(separator)
    return room
