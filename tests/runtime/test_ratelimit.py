"""The outbox's rate limiter: per chat, per group, overall, and 429 blocks (R-OUT-1, R-OUT-2)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.runtime.delivery import Limits
from bot.runtime.ratelimit import RateLimiter, Window, chat_key, windows_for

from .fakes import SLACK, TELEGRAM

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_one_message_per_second_per_chat() -> None:
    limiter = RateLimiter()
    chat = windows_for("telegram", TELEGRAM, "c1")
    limiter.record(chat, T0)
    assert limiter.allowed_at(chat, T0) == s(1)
    assert limiter.allowed_at(chat, s(0.5)) == s(1)
    assert limiter.allowed_at(chat, s(1)) == s(1)
    # Another chat is not held back by c1.
    assert limiter.allowed_at(windows_for("telegram", TELEGRAM, "c2"), T0) == T0


def test_twenty_messages_per_minute_per_telegram_group() -> None:
    limiter = RateLimiter()
    group = windows_for("telegram", TELEGRAM, "-100", group=True)
    for i in range(20):
        now = s(i)
        assert limiter.allowed_at(group, now) == now
        limiter.record(group, now)
    # The 21st has to wait until the first is a minute old, not just a second.
    assert limiter.allowed_at(group, s(20)) == s(60)
    # The same chat id without the group flag is only held by the per-chat limit.
    assert limiter.allowed_at(windows_for("telegram", TELEGRAM, "-100"), s(20)) == s(20)


def test_thirty_messages_per_second_overall_on_telegram() -> None:
    limiter = RateLimiter()
    for i in range(30):
        limiter.record(windows_for("telegram", TELEGRAM, f"c{i}"), T0)
    assert limiter.allowed_at(windows_for("telegram", TELEGRAM, "c99"), T0) == s(1)
    # Slack's budget is its own.
    assert limiter.allowed_at(windows_for("slack", SLACK, "c99"), T0) == T0


def test_eight_messages_per_second_across_a_slack_workspace() -> None:
    limiter = RateLimiter()
    for i in range(8):
        limiter.record(windows_for("slack", SLACK, f"C{i}"), s(i * 0.1))
    assert limiter.allowed_at(windows_for("slack", SLACK, "C8"), s(0.8)) == s(1)
    limiter.record(windows_for("slack", SLACK, "C8"), s(1))
    # The window slides: the next one waits for the send at 0.1 s to be a second old.
    assert limiter.allowed_at(windows_for("slack", SLACK, "C9"), s(1.05)) == s(1.1)


def test_a_429_blocks_only_the_chat_it_was_for() -> None:
    limiter = RateLimiter()
    limiter.block(chat_key("telegram", "c1"), s(30))
    assert limiter.allowed_at(windows_for("telegram", TELEGRAM, "c1"), T0) == s(30)
    assert limiter.allowed_at(windows_for("telegram", TELEGRAM, "c2"), T0) == T0
    assert limiter.allowed_at(windows_for("telegram", TELEGRAM, "-5", group=True), T0) == T0


def test_a_shorter_block_never_shortens_a_longer_one() -> None:
    limiter = RateLimiter()
    key = chat_key("slack", "C1")
    limiter.block(key, s(30))
    limiter.block(key, s(5))
    assert limiter.blocked_until(key) == s(30)


def test_pruning_forgets_idle_keys_and_past_blocks_but_not_live_ones() -> None:
    limiter = RateLimiter()
    old, live = windows_for("slack", SLACK, "C1"), windows_for("slack", SLACK, "C2")
    limiter.record(old, T0)
    limiter.block(chat_key("slack", "C1"), s(10))
    limiter.record(live, s(599.5))
    limiter.prune(s(600))
    assert limiter.blocked_until(chat_key("slack", "C1")) is None
    assert limiter.allowed_at(live, s(600)) == s(600.5)


def test_changing_a_limit_keeps_the_sends_already_counted() -> None:
    limiter = RateLimiter()
    key = ("overall", "slack")
    limiter.record([Window(key, 2, 1.0)], T0)
    limiter.record([Window(key, 2, 1.0)], T0)
    assert limiter.allowed_at([Window(key, 3, 1.0)], T0) == T0
    limiter.record([Window(key, 3, 1.0)], T0)
    assert limiter.allowed_at([Window(key, 3, 1.0)], T0) == s(1)


# A burst: (chat index, is it a group, which platform, seconds since the previous attempt).
_attempt = st.tuples(
    st.integers(0, 6),
    st.booleans(),
    st.sampled_from(["telegram", "slack"]),
    st.floats(0, 2.5, allow_nan=False),
)
_LIMITS = {"telegram": TELEGRAM, "slack": Limits(per_chat=(1, 1.0), overall=(8, 1.0))}


@settings(max_examples=200, deadline=None)
@given(st.lists(_attempt, min_size=1, max_size=150), st.lists(_attempt, max_size=20))
def test_no_limit_is_ever_exceeded_in_a_random_burst(
    burst: list[tuple[int, bool, str, float]], blocks: list[tuple[int, bool, str, float]]
) -> None:
    limiter = RateLimiter()
    now = T0
    sent: dict[tuple[str, ...], list[datetime]] = defaultdict(list)
    windows_of: dict[tuple[str, ...], Window] = {}
    blocked: dict[tuple[str, ...], datetime] = {}
    for chat, _, platform, until in blocks:
        key = chat_key(platform, f"c{chat}")
        limiter.block(key, s(until * 10))
        blocked[key] = max(blocked.get(key, T0), s(until * 10))
    for chat, group, platform, gap in burst:
        now += timedelta(seconds=gap)
        # Telegram group chats are a property of the chat, not of the attempt.
        windows = windows_for(
            platform,
            _LIMITS[platform],
            f"c{chat}",
            group=group and platform == "telegram" and chat % 2 == 0,
        )
        when = limiter.allowed_at(windows, now)
        assert when >= now
        # The answer is tight enough to act on: at that moment the send is allowed.
        assert limiter.allowed_at(windows, when) == when
        now = when
        limiter.record(windows, now)
        for w in windows:
            sent[w.key].append(now)
            windows_of[w.key] = w
    for key, times in sent.items():
        w = windows_of[key]
        assert times == sorted(times)
        for first, later in zip(times, times[w.count :], strict=False):
            assert later - first >= timedelta(seconds=w.per), f"{key} over {w.count}/{w.per}s"
        if key in blocked:
            assert times[0] >= blocked[key]


def test_a_send_counts_from_when_its_call_came_back() -> None:
    # Thirty calls start at once; the first takes 0.4 s to reach the platform and come
    # back (a new connection). Counted from its start, the 31st could go at 1.0 s, only
    # 0.6 s after the platform saw the first: a 429. Counted from its end it waits.
    limiter = RateLimiter()
    chats = [windows_for("telegram", TELEGRAM, f"c{i}") for i in range(31)]
    for windows in chats[:30]:
        limiter.record(windows, T0)
    limiter.settle(chats[0], T0, s(0.4))
    for windows in chats[1:30]:
        limiter.settle(windows, T0, s(0.01))
    assert limiter.allowed_at(chats[30], s(1)) == s(1.01)
    limiter.settle(chats[1], T0, s(0.5))  # a send already moved is not found again
    assert limiter.allowed_at(chats[30], s(1)) == s(1.01)
    # The chat's own window moved too: c0 may send again one second after it came back.
    assert limiter.allowed_at(chats[0], s(1)) == s(1.4)


def test_settling_a_send_that_was_never_counted_changes_nothing() -> None:
    limiter = RateLimiter()
    chat = windows_for("slack", SLACK, "C1")
    limiter.record(chat, T0)
    limiter.settle(chat, s(5), s(6))  # not a counted start
    limiter.settle(chat, T0, T0)  # no time passed
    assert limiter.allowed_at(chat, T0) == s(1)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=60),
    st.lists(st.tuples(st.integers(0, 60), st.integers(0, 30)), max_size=30),
)
def test_settling_keeps_each_window_the_sorted_times_of_its_sends(
    starts: list[int], settles: list[tuple[int, int]]
) -> None:
    # Reference: a window is the sorted list of its sends' times, the newest `count`;
    # settling moves one send at `started` (if counted) to `ended`.
    window = Window(("overall", "slack"), 25, 1.0)
    limiter = RateLimiter()
    reference: list[datetime] = []
    for start in sorted(starts):
        limiter.record([window], s(start / 10))
        reference = [*reference, s(start / 10)][-window.count :]
    for pick, took in settles:
        started = s(sorted(starts)[pick % len(starts)] / 10)
        ended = started + timedelta(seconds=took / 10)
        limiter.settle([window], started, ended)
        if ended > started and started in reference:
            reference.remove(started)
            reference = sorted([*reference, ended])
        assert list(limiter._sent[window.key]) == reference


def test_a_send_that_must_leave_room_waits_while_one_that_need_not_goes() -> None:
    limiter = RateLimiter()
    key = ("overall", "slack")
    for _ in range(8):
        limiter.record([Window(key, 10, 1.0)], T0)
    assert limiter.allowed_at([Window(key, 10, 1.0, spare=2)], T0) == s(1)
    assert limiter.allowed_at([Window(key, 10, 1.0, spare=1)], T0) == T0
    assert limiter.allowed_at([Window(key, 10, 1.0)], T0) == T0
