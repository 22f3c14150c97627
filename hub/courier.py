"""The courier: hands one delivery to its destination over HTTP and records how it went.

Retries are bounded, with exponential backoff and full jitter (tenacity). Timeouts, connection
errors, 408, 425, 429 and 5xx are worth retrying; any other 4xx is the destination refusing the
message and retrying would not change its mind. Every request carries the delivery id as its
``Idempotency-Key``, so a retry of something the destination did apply is not applied twice.
A delivery that succeeds is the disclosure, and is audited with its legal basis; one that cannot
succeed goes to the dead letter channel with the reason and the attempts.

Nothing leaves without a stored permit, decided again at the last moment: before the first
attempt and before every retry the sharing decision is re-run on the current register
(``consent.sharing.Sharing.recheck``), so a message queued before a consent was withdrawn is
withheld, with the reason, instead of delivered. Replaying a dead letter puts the delivery back
on its queue, where that same re-check decides it again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import httpx
from sqlalchemy.orm import Session
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from consent.register import aware
from consent.sharing import Recheck, Sharing
from hub import metrics
from hub.audit import record
from hub.canonical import new_id, utcnow
from hub.crypto import KeyRing
from hub.sealing import open_json
from hub.settings import Settings
from hub.store.database import Database
from hub.store.tables import ConnectedSystem, DeadLetter, Delivery, DeliveryAttempt
from queues.outbox import OutboxRelay, enqueue
from queues.topology import DEAD_LETTER, delivery_key

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429})
FINISHED = frozenset({"delivered", "dead", "withheld"})


class Retryable(Exception):
    """This attempt failed in a way another attempt may not."""


class Refused(Exception):
    """The destination refused the message; retrying would not help."""


class Withheld(Exception):
    """The sharing decision, run again before an attempt, no longer permits the delivery."""

    def __init__(self, recheck: Recheck):
        super().__init__(recheck.decision.reason)
        self.recheck = recheck


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
    recheck: Recheck
    attempts: list[Attempt] = field(default_factory=list)


class Courier:
    def __init__(
        self, database: Database, keyring: KeyRing, relay: OutboxRelay, settings: Settings,
        sharing: Sharing,
    ):
        self.database = database
        self.keyring = keyring
        self.relay = relay
        self.settings = settings
        self.sharing = sharing

    def deliver(self, delivery_id: str, client: httpx.Client) -> str:
        """Deliver one delivery; returns its final status. Safe to call again for the same id."""
        job = self._load(delivery_id)
        if isinstance(job, str):
            return job
        try:
            for attempt in self._retrying():
                with attempt:
                    if job.attempts:
                        self._still_permitted(job)
                    self._attempt(job, client)
        except Withheld as withheld:
            return self._withhold_job(job, withheld.recheck)
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
            delivery = session.get(Delivery, delivery_id, with_for_update=True)
            if delivery is None:
                log.warning("delivery notice for unknown delivery %s ignored", delivery_id)
                return "unknown"
            if delivery.status in FINISHED:
                return delivery.status
            recheck = self.sharing.recheck(session, delivery)
            if not recheck.decision.permitted:
                self._withhold(session, recheck, attempts=[])
                return "withheld"
            system = session.get(ConnectedSystem, delivery.destination)
            payload = open_json(
                self.keyring, delivery.key_id, delivery.payload_sealed, f"delivery:{delivery_id}"
            )
            return Job(
                delivery_id=delivery_id, destination=delivery.destination,
                url=f"{system.endpoint_url}{payload['path']}", body=payload["body"].encode(),
                content_type=payload["content_type"], message_id=delivery.message_id,
                recheck=recheck,
            )

    def _still_permitted(self, job: Job) -> None:
        """Before a retry: decide again; a consent withdrawn meanwhile stops the delivery here."""
        with self.database.read() as session:
            delivery = session.get(Delivery, job.delivery_id)
            recheck = self.sharing.recheck(session, delivery)
        if not recheck.decision.permitted:
            raise Withheld(recheck)
        job.recheck = recheck

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

    @staticmethod
    def _finish(
        session: Session, delivery_id: str, attempts: list[Attempt], status: str, error: str | None,
    ) -> Delivery:
        delivery = session.get(Delivery, delivery_id, with_for_update=True)
        for attempt in attempts:
            session.add(DeliveryAttempt(
                delivery_id=delivery_id, number=delivery.attempts + attempt.number,
                started_at=attempt.started_at, duration_ms=attempt.duration_ms,
                status_code=attempt.status_code, error=attempt.error,
            ))
        delivery.attempts += len(attempts)
        delivery.status = status
        delivery.last_error = error
        delivery.completed_at = utcnow()
        metrics.DELIVERIES.labels(delivery.destination, status).inc()
        return delivery

    def _delivered(self, job: Job) -> str:
        decision = job.recheck.decision
        with self.database.transaction() as session:
            delivery = self._finish(session, job.delivery_id, job.attempts, "delivered", None)
            metrics.DELIVERY_LATENCY.labels(delivery.destination, delivery.message_type).observe(
                (delivery.completed_at - aware(delivery.created_at)).total_seconds())
            decision_id = self.sharing.keep(session, job.recheck, audit=False)
            record(
                session, "disclosure", "hub", job.message_id, subjects=job.recheck.subjects,
                destination=job.destination, delivery_id=job.delivery_id,
                message_type=delivery.message_type, purpose=decision.purpose,
                decision_id=decision_id, planned_decision_id=delivery.decision_id,
                legal_basis=decision.legal_basis, basis_kind=decision.basis_kind,
                basis_refs=list(decision.basis_refs), categories=list(decision.categories),
                fields=sorted(set(decision.shared)), attempts=delivery.attempts,
            )
        return "delivered"

    def _withhold_job(self, job: Job, recheck: Recheck) -> str:
        with self.database.transaction() as session:
            self._withhold(session, recheck, job.attempts)
        return "withheld"

    def _withhold(self, session: Session, recheck: Recheck, attempts: list[Attempt]) -> None:
        """The delivery stops here: the refusal is stored as a decision and audited, with its reason."""
        decision_id = self.sharing.keep(session, recheck)
        delivery = self._finish(session, recheck.delivery.delivery_id, attempts, "withheld",
                                recheck.decision.reason)
        record(
            session, "delivery.withheld", "hub", delivery.message_id, subjects=recheck.subjects,
            destination=delivery.destination, delivery_id=delivery.delivery_id, decision_id=decision_id,
            reason=recheck.decision.reason,
        )

    def replay(self, dead_letter_id: str, actor: str) -> str:
        """Put a dead-lettered delivery back on its queue; the courier decides it again before sending."""
        with self.database.transaction() as session:
            dead = session.get(DeadLetter, dead_letter_id, with_for_update=True)
            if dead is None:
                raise LookupError(f"no dead letter {dead_letter_id}")
            delivery = session.get(Delivery, dead.delivery_id, with_for_update=True)
            payload = open_json(self.keyring, delivery.key_id, delivery.payload_sealed,
                                f"delivery:{delivery.delivery_id}")
            if "body" not in payload:
                raise LookupError(
                    f"dead letter {dead_letter_id} has nothing rendered to send ({dead.reason}); "
                    "correct the mapping and send the message again"
                )
            delivery.status, delivery.last_error, delivery.completed_at = "pending", None, None
            session.delete(dead)
            entry = enqueue(
                session, delivery_key(delivery.destination), {"delivery_id": delivery.delivery_id}
            )
            record(
                session, "delivery.replayed", actor, delivery.message_id,
                subjects=self.sharing.subjects_of_delivery(session, delivery),
                destination=delivery.destination, delivery_id=delivery.delivery_id,
                dead_letter_id=dead_letter_id, dead_reason=dead.reason,
            )
        self.relay.flush([entry])
        return delivery.delivery_id

    def _dead(self, job: Job, reason: str) -> str:
        with self.database.transaction() as session:
            delivery = self._finish(session, job.delivery_id, job.attempts, "dead", reason)
            dead_letter_id = new_id()
            session.add(DeadLetter(
                dead_letter_id=dead_letter_id, delivery_id=job.delivery_id,
                message_id=job.message_id, destination=job.destination, reason=reason,
                attempts=delivery.attempts, dead_at=utcnow(),
            ))
            decision_id = self.sharing.keep(session, job.recheck, audit=False)
            entry = enqueue(session, DEAD_LETTER, {
                "dead_letter_id": dead_letter_id, "delivery_id": job.delivery_id,
                "message_id": job.message_id, "destination": job.destination,
                "reason": reason, "attempts": delivery.attempts,
            })
            record(
                session, "delivery.dead", "hub", job.message_id, subjects=job.recheck.subjects,
                destination=job.destination, delivery_id=job.delivery_id, decision_id=decision_id,
                reason=reason, attempts=delivery.attempts,
            )
        self.relay.flush([entry])
        return "dead"
