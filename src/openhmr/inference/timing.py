"""Wall-clock time per named stage (decode, detect, crop, predict, render, write)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class StageTimer:
    """Accumulates seconds per stage: ``with timer.stage("render"): ...``; `seconds` maps
    stage -> total seconds, in first-use order."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed


@contextmanager
def maybe_stage(timer: StageTimer | None, name: str) -> Iterator[None]:
    """`timer.stage(name)`, or nothing when there is no timer."""
    if timer is None:
        yield
    else:
        with timer.stage(name):
            yield
