"""What ``firebreak serve`` does to the collector once started: the start-up heap frozen out of
its sight, and the young generation collected every 10,000 allocations, not the default 700."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from receiver.cli.serve import freeze_heap


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_serve_freezes_the_start_up_heap_and_collects_the_young_less_often(
    collector: None,
) -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    start_up = [object() for _ in range(3)], {"kept": [1, 2]}
    freeze_heap()
    assert gc.get_freeze_count() > 0
    # Frozen: in no generation a collection walks.
    assert all(found is not start_up for found in gc.get_objects())
    assert gc.get_threshold() == (10_000, 10, 10)
