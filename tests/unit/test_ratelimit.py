"""Token buckets per channel, driven by a hand-moved clock (no sleeps)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver.ratelimit import UNLIMITED, RateLimit, RateLimiters, TokenBucket


class FakeClock:
    def __init__(self, now: float = 500.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_starts_full_and_refuses_past_the_burst(clock: FakeClock) -> None:
    bucket = TokenBucket(per_minute=6, burst=3, clock=clock)
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]
    assert bucket.next_token_in() == pytest.approx(10.0)  # 6 a minute: one every 10 s


def test_refills_at_the_configured_rate(clock: FakeClock) -> None:
    bucket = TokenBucket(per_minute=6, burst=3, clock=clock)
    for _ in range(3):
        assert bucket.try_take()
    clock.advance(4)
    assert not bucket.try_take()
    assert bucket.next_token_in() == pytest.approx(6.0)
    clock.advance(6)
    assert bucket.next_token_in() == 0.0
    assert bucket.try_take()
    assert not bucket.try_take()


def test_waiting_exactly_next_token_in_always_gives_a_token(clock: FakeClock) -> None:
    # 7 a minute makes the refill arithmetic inexact in binary floating point.
    bucket = TokenBucket(per_minute=7, burst=1, clock=clock)
    for _ in range(50):
        while bucket.try_take():
            pass
        clock.advance(bucket.next_token_in())
        assert bucket.try_take()


def test_refill_stops_at_the_burst(clock: FakeClock) -> None:
    bucket = TokenBucket(per_minute=60, burst=2, clock=clock)
    assert bucket.try_take()
    clock.advance(3600)
    assert bucket.tokens == 2.0
    assert [bucket.try_take() for _ in range(3)] == [True, True, False]


def test_a_clock_stepping_back_neither_drains_nor_fills(clock: FakeClock) -> None:
    bucket = TokenBucket(per_minute=60, burst=2, clock=clock)
    assert bucket.try_take()
    clock.advance(-100)
    assert bucket.tokens == pytest.approx(1.0)
    clock.advance(1)
    assert bucket.tokens == pytest.approx(2.0)


def test_fractional_rates(clock: FakeClock) -> None:
    bucket = TokenBucket(per_minute=0.5, burst=1, clock=clock)  # one every two minutes
    assert bucket.try_take()
    assert bucket.next_token_in() == pytest.approx(120.0)


@pytest.mark.parametrize(("per_minute", "burst"), [(0, 1), (-1, 1), (math.nan, 1), (1, 0)])
def test_rejects_nonsense_settings(per_minute: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(per_minute, burst)


def test_limiters_per_channel(clock: FakeClock) -> None:
    limiters = RateLimiters({"pager": RateLimit(per_minute=60, burst=1)}, clock=clock)
    assert limiters.try_take("pager")
    assert not limiters.try_take("pager")
    assert limiters.next_token_in("pager") == pytest.approx(1.0)
    # Another channel is unaffected; one without a limit is never held back.
    assert all(limiters.try_take("mail") for _ in range(1000))
    assert limiters.next_token_in("mail") == 0.0
    assert limiters.get("mail") is UNLIMITED
    assert limiters.bucket("mail") is None
    bucket = limiters.get("pager")
    assert isinstance(bucket, TokenBucket)
    clock.advance(1)
    assert bucket.try_take()


def test_limiters_configure_and_snapshot(clock: FakeClock) -> None:
    limiters = RateLimiters(clock=clock)
    limiters.configure("mail", RateLimit(per_minute=30, burst=2))
    limiters.configure("chat", RateLimit(per_minute=10, burst=1))
    assert limiters.try_take("mail")
    assert limiters.snapshot() == [
        {"channel": "chat", "per_minute": 10, "burst": 1, "tokens": 1.0, "next_token_in": 0.0},
        {"channel": "mail", "per_minute": 30, "burst": 2, "tokens": 1.0, "next_token_in": 0.0},
    ]
    limiters.configure("mail", None)
    assert [s["channel"] for s in limiters.snapshot()] == ["chat"]
    assert limiters.try_take("mail")


@given(
    per_minute=st.floats(min_value=0.1, max_value=600),
    burst=st.integers(min_value=1, max_value=20),
    steps=st.lists(st.floats(min_value=0, max_value=30), max_size=80),
)
def test_never_more_than_burst_plus_refill(
    per_minute: float, burst: int, steps: list[float]
) -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_minute, burst, clock=clock)
    taken = 0
    for step in steps:
        clock.advance(step)
        while bucket.try_take():
            taken += 1
        wait = bucket.next_token_in()
        assert 0.0 < wait <= 60.0 / per_minute + 1e-6
    elapsed = sum(steps)
    assert taken <= burst + elapsed * per_minute / 60.0 + 1e-6
