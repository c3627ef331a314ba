"""Fixtures: the server driven step by step over socketpairs, with a clock of our own."""

from __future__ import annotations

import pytest
from harness import Harness


@pytest.fixture
def harness():
    made: list[Harness] = []

    def make(**settings: object) -> Harness:
        h = Harness(**settings)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()
