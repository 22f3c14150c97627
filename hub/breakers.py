"""Circuit breakers, one per destination and worker process (pybreaker).

A destination whose attempts keep failing (timeouts, refused connections, 5xx) has its breaker
opened after ``HUB_BREAKER_FAILURES`` failures in a row: its deliveries then wait, without
spending their attempts, until ``HUB_BREAKER_RESET`` seconds have passed and one trial attempt
goes through; a success closes the breaker, a failure opens it again. Only that destination's
queue waits; every other destination has its own queue, consumer and breaker.

A destination that answers with a refusal (another 4xx) is working: that closes nothing and opens
nothing. The state is per process; ``breaker_states`` (for the console) and the
``hub_circuit_breaker_open`` gauge show this process's breakers.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pybreaker
from prometheus_client import Gauge

OPEN_GAUGE = Gauge(
    "hub_circuit_breaker_open", "1 while this process's circuit breaker for the destination is open "
    "or half-open (deliveries wait instead of trying), else 0", ["destination"],
)

CircuitOpen = pybreaker.CircuitBreakerError


@dataclass(frozen=True)
class BreakerState:
    destination: str
    state: str  # closed, open or half-open
    failures: int
    opened_at: datetime | None
    retry_at: datetime | None  # when an open breaker lets its trial attempt through


class _Gauge(pybreaker.CircuitBreakerListener):
    def state_change(self, cb, old_state, new_state) -> None:  # type: ignore[no-untyped-def]
        OPEN_GAUGE.labels(cb.name).set(0 if new_state.name == pybreaker.STATE_CLOSED else 1)


class Breakers:
    """This process's breakers, made on first use per destination."""

    def __init__(self, failures: int, reset_seconds: float, healthy: tuple[type[BaseException], ...] = ()):
        self.failures = failures
        self.reset_seconds = reset_seconds
        self.healthy = healthy
        self._lock = threading.Lock()
        self._breakers: dict[str, tuple[pybreaker.CircuitBreaker, pybreaker.CircuitMemoryStorage]] = {}
        _ALL.add(self)

    def breaker(self, destination: str) -> pybreaker.CircuitBreaker:
        return self._entry(destination)[0]

    def _entry(self, destination: str) -> tuple[pybreaker.CircuitBreaker, pybreaker.CircuitMemoryStorage]:
        with self._lock:
            if destination not in self._breakers:
                storage = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
                breaker = pybreaker.CircuitBreaker(
                    fail_max=self.failures, reset_timeout=self.reset_seconds, exclude=list(self.healthy),
                    listeners=[_Gauge()], state_storage=storage, name=destination,
                    throw_new_error_on_trip=False,
                )
                OPEN_GAUGE.labels(destination).set(0)
                self._breakers[destination] = (breaker, storage)
            return self._breakers[destination]

    def wait_before_trying(self, destination: str) -> float:
        """Seconds until this destination may be tried: 0 unless its breaker is open."""
        state = self.state(destination)
        if state.retry_at is None:
            return 0.0
        return max(0.0, (state.retry_at - datetime.now(UTC)).total_seconds())

    def state(self, destination: str) -> BreakerState:
        breaker, storage = self._entry(destination)
        current = breaker.current_state
        opened_at = storage.opened_at if current != pybreaker.STATE_CLOSED else None
        retry_at = (opened_at + timedelta(seconds=self.reset_seconds)
                    if current == pybreaker.STATE_OPEN and opened_at else None)
        return BreakerState(destination, current, breaker.fail_counter, opened_at, retry_at)

    def states(self) -> list[BreakerState]:
        with self._lock:
            names = sorted(self._breakers)
        return [self.state(name) for name in names]


_ALL: weakref.WeakSet[Breakers] = weakref.WeakSet()  # the breakers of every hub in this process


def breaker_states() -> list[BreakerState]:
    """Every destination's breaker in this process (for the console and metrics)."""
    return [state for breakers in _ALL for state in breakers.states()]


def open_breakers() -> list[BreakerState]:
    """The breakers in this process that are open or half-open: destinations being left alone."""
    return [state for state in breaker_states() if state.state != pybreaker.STATE_CLOSED]
