import threading
import time

import pytest
from support.waiting import wait_for

from course_utils.telemetry import Sampler, SimulatedBackend, running_samplers
from course_utils.telemetry.samples import Snapshot


class CountingBackend:
    kind = "simulated"

    def __init__(self, delay=0.0):
        self.calls = 0
        self.delay = delay
        self.threads = set()

    def snapshot(self, processes=False):
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        return Snapshot(timestamp=time.time(), source="simulated", processes=() if processes else None)


def test_samples_on_a_fixed_schedule_in_one_background_thread():
    backend = CountingBackend()
    sampler = Sampler(backend, interval=0.05, name=None)
    with sampler:
        time.sleep(0.55)
    assert 9 <= backend.calls <= 13  # ~11 ticks: fixed schedule, first tick at start
    assert backend.threads == {"gpu-sampler-None"}
    assert not sampler.running


def test_start_and_stop_are_idempotent():
    sampler = Sampler(CountingBackend(), interval=0.02, name=None)
    sampler.start()
    thread = sampler.thread
    sampler.start()
    assert sampler.thread is thread  # no second thread
    sampler.stop()
    sampler.stop()
    assert not sampler.running


def test_no_thread_leak_over_many_cycles():
    before = threading.active_count()
    sampler = Sampler(CountingBackend(), interval=0.01, name=None)
    for _ in range(200):
        sampler.start()
        sampler.stop()
    for _ in range(50):
        with Sampler(CountingBackend(), interval=0.01, name="leak-test"):
            pass
    assert threading.active_count() == before
    assert not [t for t in threading.enumerate() if t.name.startswith("gpu-sampler")]


def test_stop_is_prompt_even_with_a_long_interval():
    sampler = Sampler(CountingBackend(), interval=30.0, name=None).start()
    time.sleep(0.05)
    started = time.monotonic()
    sampler.stop()
    assert time.monotonic() - started < 1.0  # stops through the Event, not after the interval


def test_same_name_stops_the_previous_sampler():
    first = Sampler(CountingBackend(), interval=0.02, name="cell-7").start()
    second = Sampler(CountingBackend(), interval=0.02, name="cell-7").start()
    assert not first.running and second.running
    assert running_samplers() == [second]
    second.close()
    assert running_samplers() == []


def test_history_is_bounded():
    sampler = Sampler(SimulatedBackend(2, step_s=0.5), interval=0.5, capacity=100, name=None)
    for _ in range(1000):
        sampler.sample_once()
    assert len(sampler.history) == 100
    assert sampler.ticks == 1000
    assert len(sampler.window(10.0)) == 21  # the last 10 s of 0.5 s steps, both ends included


def test_default_capacity_is_an_hour():
    assert Sampler(CountingBackend(), interval=0.5, name=None).history.maxlen == 7200
    assert Sampler(CountingBackend(), interval=0.01, name=None).history.maxlen == 100_000


def test_a_failing_subscriber_is_recorded_and_does_not_stop_others():
    sampler = Sampler(SimulatedBackend(1, step_s=0.5), interval=0.5, name=None)
    seen = []

    def broken(snap):
        raise ValueError("boom")

    sampler.subscribe(broken)
    sampler.subscribe(seen.append)
    for _ in range(3):
        sampler.sample_once()
    assert len(seen) == 3
    assert len(sampler.subscriber_errors) == 3
    assert sampler.subscriber_errors[0][1] == "broken"


def test_unsubscribe():
    sampler = Sampler(SimulatedBackend(1, step_s=0.5), interval=0.5, name=None)
    seen = []
    unsubscribe = sampler.subscribe(seen.append)
    sampler.sample_once()
    unsubscribe()
    unsubscribe()  # twice is harmless
    sampler.sample_once()
    assert len(seen) == 1


def test_a_slow_backend_skips_ticks_instead_of_bursting():
    backend = CountingBackend(delay=0.12)
    sampler = Sampler(backend, interval=0.05, name=None)
    with sampler:
        time.sleep(0.6)
    assert backend.calls <= 6
    assert sampler.missed_ticks >= 3


def test_processes_every_n_ticks():
    sampler = Sampler(SimulatedBackend(1, step_s=0.5), interval=0.5, name=None, processes_every=3)
    snaps = [sampler.sample_once() for _ in range(6)]
    assert [s.processes is not None for s in snaps] == [True, False, False, True, False, False]


def test_sampler_reports_its_own_cpu_time():
    sampler = Sampler(SimulatedBackend(1), interval=0.01, name=None)
    with sampler:
        assert wait_for(lambda: sampler.ticks > 20, timeout=5.0)
    assert 0 < sampler.cpu_time_s < 5


@pytest.mark.parametrize("interval", [0, -1, None, 0.001])
def test_bad_interval_is_a_clear_error(interval):
    with pytest.raises(ValueError, match="interval"):
        Sampler(CountingBackend(), interval=interval, name=None)
