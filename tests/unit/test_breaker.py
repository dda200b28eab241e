"""The circuit breaker's state machine, driven by a hand-moved clock (no sleeps)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver.breaker import BreakerRegistry, BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def state_of(b: CircuitBreaker) -> BreakerState:
    # A call rather than the property in each assert: mypy would narrow ``b.state`` after the
    # first assert and call the next one (after a transition) unreachable.
    return b.state


def breaker(
    clock: FakeClock, threshold: int = 3, cooldown: float = 60.0, probes: int = 2
) -> CircuitBreaker:
    return CircuitBreaker(threshold, cooldown, probes, clock=clock)


def open_breaker(
    clock: FakeClock, threshold: int = 3, cooldown: float = 60.0, probes: int = 2
) -> CircuitBreaker:
    b = breaker(clock, threshold, cooldown, probes)
    for _ in range(b.failure_threshold):
        b.record_failure()
    assert state_of(b) is BreakerState.OPEN
    return b


def test_starts_closed_and_allows(clock: FakeClock) -> None:
    b = breaker(clock)
    assert state_of(b) is BreakerState.CLOSED
    assert b.allow()
    assert b.retry_in() == 0.0


def test_defaults() -> None:
    b = CircuitBreaker()
    assert (b.failure_threshold, b.open_cooldown, b.half_open_probe_count) == (5, 60.0, 3)


def test_opens_after_threshold_consecutive_failures(clock: FakeClock) -> None:
    b = breaker(clock, threshold=3)
    b.record_failure()
    b.record_failure()
    assert state_of(b) is BreakerState.CLOSED
    assert b.allow()
    b.record_failure()
    assert state_of(b) is BreakerState.OPEN
    assert not b.allow()


def test_success_resets_the_consecutive_count(clock: FakeClock) -> None:
    b = breaker(clock, threshold=3)
    for _ in range(5):
        b.record_failure()
        b.record_failure()
        b.record_success()
    assert state_of(b) is BreakerState.CLOSED
    assert b.failures == 0


def test_open_refuses_and_counts_down(clock: FakeClock) -> None:
    b = open_breaker(clock, cooldown=60.0)
    assert b.retry_in() == 60.0
    clock.advance(45)
    assert not b.allow()
    assert b.retry_in() == pytest.approx(15.0)
    clock.advance(14.9)
    assert not b.allow()
    assert state_of(b) is BreakerState.OPEN


def test_half_open_after_cooldown_limits_probes(clock: FakeClock) -> None:
    b = open_breaker(clock, cooldown=60.0, probes=2)
    clock.advance(60)
    assert state_of(b) is BreakerState.HALF_OPEN
    assert b.retry_in() == 0.0
    assert b.allow()
    assert b.allow()
    assert not b.allow()  # both probe slots are taken
    assert b.retry_in() == pytest.approx(60.0)  # until the oldest probe's slot would expire
    b.record_success()
    assert state_of(b) is BreakerState.HALF_OPEN
    assert b.allow()  # the finished probe freed its slot


def test_closes_after_probe_count_consecutive_successes(clock: FakeClock) -> None:
    b = open_breaker(clock, probes=2)
    clock.advance(60)
    assert b.allow()
    assert b.allow()
    b.record_success()
    b.record_success()
    assert state_of(b) is BreakerState.CLOSED
    assert b.failures == 0
    assert b.allow()
    assert b.snapshot()["opened_seconds_ago"] is None


def test_failure_in_half_open_reopens_with_a_fresh_cooldown(clock: FakeClock) -> None:
    b = open_breaker(clock, cooldown=60.0, probes=2)
    clock.advance(60)
    assert b.allow()
    assert b.allow()
    b.record_success()
    b.record_failure()
    assert state_of(b) is BreakerState.OPEN
    assert not b.allow()
    assert b.retry_in() == 60.0
    clock.advance(60)
    assert state_of(b) is BreakerState.HALF_OPEN
    assert b.snapshot()["probe_successes"] == 0  # the earlier success does not carry over


def test_release_frees_a_slot_without_a_verdict(clock: FakeClock) -> None:
    b = open_breaker(clock, probes=1)
    clock.advance(60)
    assert b.allow()
    assert not b.allow()
    b.release()  # e.g. the probe was throttled (429)
    assert state_of(b) is BreakerState.HALF_OPEN
    assert b.snapshot()["probe_successes"] == 0
    assert b.allow()
    b.record_success()
    assert state_of(b) is BreakerState.CLOSED


def test_probe_that_never_reports_gives_its_slot_up(clock: FakeClock) -> None:
    b = open_breaker(clock, cooldown=30.0, probes=1)
    clock.advance(30)
    assert b.allow()
    clock.advance(29)
    assert not b.allow()
    assert b.retry_in() == pytest.approx(1.0)
    clock.advance(1)
    assert b.allow()  # the lost probe no longer holds the only slot


def test_late_outcomes_while_open_are_ignored(clock: FakeClock) -> None:
    b = open_breaker(clock, cooldown=60.0)
    clock.advance(30)
    b.record_failure()  # a call let through before opening, failing late
    assert b.retry_in() == pytest.approx(30.0)  # the cooldown is not extended
    b.record_success()
    assert state_of(b) is BreakerState.OPEN


def test_snapshot(clock: FakeClock) -> None:
    b = breaker(clock, threshold=2)
    b.record_failure()
    assert b.snapshot() == {
        "state": "closed",
        "failures": 1,
        "opened_seconds_ago": None,
        "retry_in": 0.0,
        "probes_in_flight": 0,
        "probe_successes": 0,
    }
    b.record_failure()
    clock.advance(10)
    snap = b.snapshot()
    assert snap["state"] == "open"
    assert snap["failures"] == 2
    assert snap["opened_seconds_ago"] == pytest.approx(10.0)
    assert snap["retry_in"] == pytest.approx(50.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"open_cooldown": 0.0},
        {"open_cooldown": -1.0},
        {"half_open_probe_count": 0},
    ],
)
def test_rejects_nonsense_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(**kwargs)  # type: ignore[arg-type]


def test_registry_keys_by_channel_and_target(clock: FakeClock) -> None:
    registry = BreakerRegistry(lambda _c, _t: CircuitBreaker(1, 10.0, 1, clock=clock))
    a = registry.get("pager", "team-a")
    assert registry.get("pager", "team-a") is a
    assert registry.get("pager", "team-b") is not a
    assert registry.get("mail", "team-a") is not a
    assert len(registry) == 3
    a.record_failure()
    snap = registry.snapshot()
    assert [(s["channel"], s["target"], s["state"]) for s in snap] == [
        ("mail", "team-a", "closed"),
        ("pager", "team-a", "open"),
        ("pager", "team-b", "closed"),
    ]
    assert snap[1]["retry_in"] == 10.0


_OPS = st.lists(
    st.one_of(
        st.sampled_from(["allow", "success", "failure", "release"]),
        st.floats(min_value=0.0, max_value=100.0),
    ),
    max_size=60,
)


@given(ops=_OPS)
def test_invariants_hold_for_any_sequence(ops: list[str | float]) -> None:
    clock = FakeClock()
    b = CircuitBreaker(3, 30.0, 2, clock=clock)
    for op in ops:
        if isinstance(op, float):
            clock.advance(op)
        elif op == "allow":
            state = b.state
            allowed = b.allow()
            if state is BreakerState.OPEN:
                assert not allowed
            if state is BreakerState.CLOSED:
                assert allowed
        elif op == "success":
            b.record_success()
        elif op == "failure":
            b.record_failure()
        else:
            b.release()
        snap = b.snapshot()
        assert snap["probes_in_flight"] <= 2
        assert snap["retry_in"] >= 0.0
        if snap["state"] == "open":
            assert 0.0 < snap["retry_in"] <= 30.0
        allowed_now = b.allow()
        assert (snap["retry_in"] == 0.0) == allowed_now
        if allowed_now and state_of(b) is BreakerState.HALF_OPEN:
            b.release()  # give back the slot the check took
