"""The courier: hands one delivery to its destination over HTTP and records how it went.

Retries are bounded, with exponential backoff and full jitter (tenacity). Timeouts, connection
errors, 408, 425, 429 and 5xx are worth retrying; any other 4xx is the destination refusing the
message and retrying would not change its mind. Every request carries the delivery id as its
``Idempotency-Key``, so a retry of something the destination did apply is not applied twice.
A delivery that succeeds is the disclosure, and is audited with its legal basis; one that cannot
succeed goes to the dead letter channel with the reason and the attempts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from hub import metrics
from hub.audit import record
from hub.canonical import new_id, utcnow
from hub.crypto import KeyRing
from hub.sealing import open_json
from hub.settings import Settings
from hub.store.database import Database
from hub.store.tables import ConnectedSystem, DeadLetter, Decision, Delivery, DeliveryAttempt
from queues.outbox import OutboxRelay, enqueue
from queues.topology import DEAD_LETTER

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429})


class Retryable(Exception):
    """This attempt failed in a way another attempt may not."""


class Refused(Exception):
    """The destination refused the message; retrying would not help."""


@dataclass
class Attempt:
    number: int
    started_at: object
    duration_ms: int
    status_code: int | None = None
    error: str | None = None

    @property
    def summary(self) -> str:
        """What went wrong, without the response body (which may quote personal data)."""
        if self.status_code is not None:
            return f"HTTP {self.status_code}"
        return (self.error or "unknown error").split(":", 1)[0]


@dataclass
class Job:
    delivery_id: str
    destination: str
    url: str
    body: bytes
    content_type: str
    message_id: str
    attempts: list[Attempt] = field(default_factory=list)


class Courier:
    def __init__(self, database: Database, keyring: KeyRing, relay: OutboxRelay, settings: Settings):
        self.database = database
        self.keyring = keyring
        self.relay = relay
        self.settings = settings

    def deliver(self, delivery_id: str, client: httpx.Client) -> str:
        """Deliver one delivery; returns its final status. Safe to call again for the same id."""
        job = self._load(delivery_id)
        if isinstance(job, str):
            return job
        try:
            for attempt in self._retrying():
                with attempt:
                    self._attempt(job, client)
        except RetryError:
            return self._dead(
                job, f"gave up after {len(job.attempts)} attempts; last: {job.attempts[-1].summary}"
            )
        except Refused:
            return self._dead(job, f"refused by the destination: {job.attempts[-1].summary}")
        return self._delivered(job)

    def _retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.settings.delivery_max_attempts),
            wait=wait_random_exponential(
                multiplier=self.settings.delivery_backoff_initial,
                max=self.settings.delivery_backoff_max,
            ),
            retry=retry_if_exception_type(Retryable),
            reraise=False,
        )

    def _load(self, delivery_id: str) -> Job | str:
        with self.database.transaction() as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None:
                log.warning("delivery notice for unknown delivery %s ignored", delivery_id)
                return "unknown"
            if delivery.status in ("delivered", "dead"):
                return delivery.status
            system = session.get(ConnectedSystem, delivery.destination)
            payload = open_json(
                self.keyring, delivery.key_id, delivery.payload_sealed, f"delivery:{delivery_id}"
            )
            return Job(
                delivery_id=delivery_id, destination=delivery.destination,
                url=f"{system.endpoint_url}{payload['path']}", body=payload["body"].encode(),
                content_type=payload["content_type"], message_id=delivery.message_id,
            )

    def _attempt(self, job: Job, client: httpx.Client) -> None:
        started, clock = utcnow(), time.perf_counter()
        attempt = Attempt(number=len(job.attempts) + 1, started_at=started, duration_ms=0)
        job.attempts.append(attempt)
        try:
            response = client.post(job.url, content=job.body, headers={
                "Content-Type": job.content_type, "Idempotency-Key": job.delivery_id,
                "X-Hub-Message-Id": job.message_id,
            })
        except httpx.HTTPError as error:
            attempt.error = f"{type(error).__name__}: {error}"[:500]
            self._measure(job, attempt, clock, "error")
            raise Retryable(attempt.error) from error
        attempt.status_code = response.status_code
        if response.is_success:
            self._measure(job, attempt, clock, "ok")
            return
        attempt.error = f"HTTP {response.status_code}: {response.text[:300]}"
        self._measure(job, attempt, clock, str(response.status_code))
        if response.status_code >= 500 or response.status_code in RETRYABLE_STATUS:
            raise Retryable(attempt.error)
        raise Refused(attempt.error)

    @staticmethod
    def _measure(job: Job, attempt: Attempt, clock: float, result: str) -> None:
        elapsed = time.perf_counter() - clock
        attempt.duration_ms = int(elapsed * 1000)
        metrics.ATTEMPTS.labels(job.destination, result).inc()
        metrics.DELIVERY_SECONDS.labels(job.destination).observe(elapsed)

    def _finish(self, session, job: Job, status: str, error: str | None) -> Delivery:  # type: ignore[no-untyped-def]
        delivery = session.get(Delivery, job.delivery_id, with_for_update=True)
        for attempt in job.attempts:
            session.add(DeliveryAttempt(
                delivery_id=job.delivery_id, number=delivery.attempts + attempt.number,
                started_at=attempt.started_at, duration_ms=attempt.duration_ms,
                status_code=attempt.status_code, error=attempt.error,
            ))
        delivery.attempts += len(job.attempts)
        delivery.status = status
        delivery.last_error = error
        delivery.completed_at = utcnow()
        metrics.DELIVERIES.labels(job.destination, status).inc()
        return delivery

    def _delivered(self, job: Job) -> str:
        with self.database.transaction() as session:
            delivery = self._finish(session, job, "delivered", None)
            decision = session.get(Decision, delivery.decision_id)
            record(
                session, "disclosure", "hub", job.message_id, destination=job.destination,
                delivery_id=job.delivery_id, message_type=delivery.message_type,
                legal_basis=decision.legal_basis, fields=decision.fields_shared,
                attempts=delivery.attempts,
            )
        return "delivered"

    def _dead(self, job: Job, reason: str) -> str:
        with self.database.transaction() as session:
            delivery = self._finish(session, job, "dead", reason)
            dead_letter_id = new_id()
            session.add(DeadLetter(
                dead_letter_id=dead_letter_id, delivery_id=job.delivery_id,
                message_id=job.message_id, destination=job.destination, reason=reason,
                attempts=delivery.attempts, dead_at=utcnow(),
            ))
            entry = enqueue(session, DEAD_LETTER, {
                "dead_letter_id": dead_letter_id, "delivery_id": job.delivery_id,
                "message_id": job.message_id, "destination": job.destination,
                "reason": reason, "attempts": delivery.attempts,
            })
            record(
                session, "delivery.dead", "hub", job.message_id, destination=job.destination,
                delivery_id=job.delivery_id, reason=reason, attempts=delivery.attempts,
            )
        self.relay.flush([entry])
        return "dead"
