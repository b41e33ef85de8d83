"""QuotaPacer (connectors/google_auth.py) on a fake clock: Google may count a call at any
moment between its send and its answer, so whatever that moment, no sliding window may hold
more than the quota — and the pacer must still get close to the quota's rate."""

from __future__ import annotations

import random
import threading
import time

import pytest

from connectors.google_auth import QuotaPacer, Spend, shared_pacer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def worst_window(calls: list[tuple[float, float, int]], window: float) -> int:
    """The most units Google could count in one window, whatever moment in [sent, answered]
    it counts each call at: a call can be in the window ending at t when sent <= t and
    answered > t - window."""
    return max(sum(u for s, a, u in calls if s <= t < a + window) for t, _, _ in calls)


def paced_client(units: int, window: float, seconds: float, seed: int
                 ) -> tuple[list[tuple[float, float, int]], float]:
    """A Gmail-like serial client: a profile call, then pages of 500 messages (a list call,
    then batches of up to 50 gets sized to the quota left), round trips of 10-80 ms."""
    clock, rng = Clock(), random.Random(seed)
    pacer = QuotaPacer(units, window, clock=clock, sleep=clock.sleep)
    calls: list[tuple[float, float, int]] = []

    def call(spend: Spend, with_next: bool = False) -> None:
        sent = clock.now
        clock.now += rng.uniform(0.01, 0.08)
        calls.append((sent, clock.now, spend.units))
        pacer.release(spend, with_next=with_next)

    call(pacer.acquire(1), with_next=True)
    while clock.now < seconds:
        call(pacer.acquire(5), with_next=True)
        queue = 500
        while queue and clock.now < seconds:
            spend = pacer.acquire_calls(5, min(50, queue), least=5, spare=4)
            queue -= spend.calls
            call(spend)
    return calls, clock.now


@pytest.mark.parametrize(("units", "window"), [(6000, 60.0), (1000, 1.0), (400, 0.5)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_window_ever_holds_more_than_the_quota(units: int, window: float, seed: int) -> None:
    calls, _ = paced_client(units, window, 12 * window, seed)
    assert worst_window(calls, window) <= units


@pytest.mark.parametrize(("units", "window"), [(6000, 60.0), (1000, 1.0)])
def test_the_pacer_reaches_the_quota_rate_less_one_round_trip_per_window(
        units: int, window: float) -> None:
    calls, end = paced_client(units, window, 30 * window, seed=7)
    # After the first window (a sliding window lets a whole quota go at once at the start):
    # each unit stays counted for a window plus its round trip (<= 80 ms), and nothing more
    # is lost — no list call holding a batch back, no window left part-empty.
    steady = sum(u for sent, _, u in calls if sent >= window) / (end - window)
    assert steady >= 0.985 * units / (window + 0.08)


def test_a_batch_is_sized_to_the_quota_left() -> None:
    clock = Clock()
    pacer = QuotaPacer(1000, 1.0, clock=clock, sleep=clock.sleep)
    pacer.release(pacer.acquire(5))  # a list call, answered at 0
    for _ in range(3):
        clock.now += 0.1
        pacer.release(pacer.acquire_calls(5, 50))
    partial = pacer.acquire_calls(5, 50)
    assert partial.calls == 49 and clock.now == pytest.approx(0.3)  # 245 left: no waiting
    pacer.release(partial)
    # Nothing left: the next batch waits for the list call to leave the window.
    clock.now = 0.5
    nxt = pacer.acquire_calls(5, 50, least=1)
    assert clock.now == pytest.approx(1.0) and nxt.calls == 1


def test_a_remainder_too_small_for_a_batch_rides_along() -> None:
    clock = Clock()
    pacer = QuotaPacer(270, 1.0, clock=clock, sleep=clock.sleep)
    spend = pacer.acquire_calls(5, 50, least=5, spare=4)
    assert spend.calls == 54  # 20 units left would be less than 5 calls: taken too
    other = QuotaPacer(300, 1.0, clock=clock, sleep=clock.sleep)
    assert other.acquire_calls(5, 50, least=5, spare=4).calls == 50  # 50 left: a batch


def test_least_waits_and_most_caps() -> None:
    clock = Clock()
    pacer = QuotaPacer(100, 1.0, clock=clock, sleep=clock.sleep)
    first = pacer.acquire_calls(5, 18)
    assert first.calls == 18
    pacer.release(first)
    assert pacer.acquire_calls(5, 10).calls == 2  # the 10 units left
    clock.now = 0.25
    later = pacer.acquire_calls(5, 10, least=5)  # 25 units: once `first` leaves
    assert clock.now == pytest.approx(1.0) and later.calls == 10  # 90 free by then: most


def test_units_count_until_a_window_after_the_answer() -> None:
    clock = Clock()
    pacer = QuotaPacer(10, 1.0, clock=clock, sleep=clock.sleep)
    spend = pacer.acquire(10)
    clock.now = 3.0  # a slow answer: Google may have counted it just now
    pacer.release(spend)
    pacer.acquire(10)
    assert clock.now == pytest.approx(4.0)


def test_a_held_small_call_leaves_with_the_next_one() -> None:
    clock = Clock()
    pacer = QuotaPacer(10, 1.0, clock=clock, sleep=clock.sleep)
    small = pacer.acquire(2)
    pacer.release(small, with_next=True)
    clock.now = 0.5
    batch = pacer.acquire(8)
    clock.now = 0.6
    pacer.release(batch)
    pacer.acquire(10)
    assert clock.now == pytest.approx(1.6)  # both left together, a window after 0.6


def test_held_units_that_block_the_only_caller_are_let_go() -> None:
    clock = Clock()
    pacer = QuotaPacer(10, 1.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):  # history pages, nothing after them yet
        pacer.release(pacer.acquire(3), with_next=True)
    pacer.acquire(5)  # would wait forever for a release that cannot come
    assert clock.now == pytest.approx(1.0)


def test_the_project_quota_is_shared_between_users_in_threads() -> None:
    """Four mailboxes' syncs in threads, each user's quota far above the project's: the
    project's window is never exceeded and its rate is reached."""
    window, project_units = 0.2, 200
    project = QuotaPacer(project_units, window)
    users = [QuotaPacer(10_000, window, project=project) for _ in range(4)]
    calls: list[tuple[float, float, int]] = []
    lock = threading.Lock()
    end = time.monotonic() + 8 * window

    def run(pacer: QuotaPacer) -> None:
        while time.monotonic() < end:
            spend = pacer.acquire_calls(5, 10, least=2, spare=1)
            sent = time.monotonic()
            time.sleep(0.005)
            answered = time.monotonic()
            pacer.release(spend)
            with lock:
                calls.append((sent, answered, spend.units))

    start = time.monotonic()
    threads = [threading.Thread(target=run, args=(p,)) for p in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    assert worst_window(calls, window) <= project_units
    spent = sum(u for _, _, u in calls)
    assert spent >= 0.6 * project_units * elapsed / window  # loose: a loaded CI machine


def test_one_pacer_per_quota_in_a_process() -> None:
    a = shared_pacer(("gmail", "http://x", "sa@x", "rep@x"), 100, 1.0)
    assert shared_pacer(("gmail", "http://x", "sa@x", "rep@x"), 100, 1.0) is a
    assert shared_pacer(("gmail", "http://x", "sa@x", "other@x"), 100, 1.0) is not a
    assert shared_pacer(("gmail", "http://x", "sa@x", "rep@x"), 200, 1.0) is not a


@pytest.mark.parametrize("seed", range(5))
def test_the_forecast_is_what_acquire_will_grant(seed: int) -> None:
    """A batch is built for the forecast before its quota is free; when the quota is then
    reserved, the same number of calls is granted."""
    rng = random.Random(seed)
    clock = Clock()
    pacer = QuotaPacer(1000, 1.0, clock=clock, sleep=clock.sleep)
    for _ in range(200):
        cost = rng.choice([1, 5, 5, 250])
        if cost == 250:
            most, least, spare = rng.randint(1, 50), 5, rng.randint(0, 4)
            expected = pacer.forecast(5, most, least, spare)
            spend = pacer.acquire_calls(5, most, least, spare)
            assert spend.calls == expected
        else:
            spend = pacer.acquire(cost)
        clock.now += rng.uniform(0.01, 0.08)
        pacer.release(spend, with_next=cost < 250 and rng.random() < 0.5)
