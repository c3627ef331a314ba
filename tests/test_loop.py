"""The loop's own rules, stepped with a clock of our own."""

from __future__ import annotations

from harness import FakeClock

from chatd.loop import Loop


def test_a_timer_set_for_now_by_a_timer_waits_for_the_next_pass():
    clock = FakeClock()
    loop = Loop(clock)
    runs: list[float] = []

    def again() -> None:
        runs.append(clock.now)
        loop.call_later(0.0, again)  # due at once, as a delay that rounds to nothing is

    loop.call_later(0.0, again)
    try:
        loop.run_once(0)
        assert len(runs) == 1  # before: this pass never ended (the clock does not move)
        loop.run_once(0)
        assert len(runs) == 2
    finally:
        loop.close()


def test_timers_due_together_all_run_in_one_pass_in_time_order():
    clock = FakeClock()
    loop = Loop(clock)
    order: list[str] = []
    loop.call_later(0.2, lambda: order.append("late"))
    loop.call_later(0.1, lambda: order.append("early"))
    cancelled = loop.call_later(0.15, lambda: order.append("cancelled"))
    cancelled.cancel()
    try:
        clock.advance(0.3)
        loop.run_once(0)
        assert order == ["early", "late"]
    finally:
        loop.close()
