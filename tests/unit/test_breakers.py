"""A destination's circuit breaker: opens after failures in a row, lets one trial through after
its reset time, ignores refusals, and shows its state to the console and the metrics."""

from __future__ import annotations

import time

import pytest

from hub.breakers import OPEN_GAUGE, Breakers, CircuitOpen, breaker_states, open_breakers


class Down(Exception):
    pass


class Refusal(Exception):
    pass


def fail(error: type[Exception]) -> None:
    raise error("simulated")


def test_a_breaker_opens_after_failures_in_a_row_and_tries_once_after_its_reset():
    breakers = Breakers(failures=3, reset_seconds=0.3, healthy=(Refusal,))
    breaker = breakers.breaker("case-system")
    for _ in range(3):
        with pytest.raises(Down):
            breaker.call(fail, Down)

    assert breakers.state("case-system").state == "open"
    assert 0 < breakers.wait_before_trying("case-system") <= 0.3
    assert [state.destination for state in open_breakers()] == ["case-system"]
    assert OPEN_GAUGE.labels("case-system")._value.get() == 1
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: None)

    time.sleep(0.35)
    assert breakers.wait_before_trying("case-system") == 0
    breaker.call(lambda: None)  # the trial succeeds
    assert breakers.state("case-system").state == "closed"
    assert OPEN_GAUGE.labels("case-system")._value.get() == 0
    assert "case-system" not in [state.destination for state in open_breakers()]


def test_refusals_do_not_open_a_breaker_and_other_destinations_are_untouched():
    breakers = Breakers(failures=2, reset_seconds=30, healthy=(Refusal,))
    for _ in range(5):
        with pytest.raises(Refusal):
            breakers.breaker("refusing-partner").call(fail, Refusal)
    for _ in range(2):
        with pytest.raises(Down):
            breakers.breaker("failing-partner").call(fail, Down)

    states = {state.destination: state.state for state in breaker_states() if state.destination in (
        "refusing-partner", "failing-partner")}
    assert states == {"refusing-partner": "closed", "failing-partner": "open"}
    assert breakers.wait_before_trying("refusing-partner") == 0
    assert breakers.wait_before_trying("failing-partner") > 25
