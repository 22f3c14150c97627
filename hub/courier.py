"""The courier: hands one delivery to its destination over HTTP and records how it went.

Retries are bounded, with exponential backoff and full jitter (tenacity). Timeouts, connection
errors, 408, 425, 429 and 5xx are worth retrying; any other 4xx is the destination refusing the
message and retrying would not change its mind. Every request carries the delivery id as its
``Idempotency-Key``, so a retry of something the destination did apply is not applied twice.
A delivery that succeeds is the disclosure, and is audited with its legal basis; one that cannot
succeed goes to the dead letter channel with the reason and the attempts.

Each attempt is written down before the request goes out and its outcome right after, so the
attempts stay bounded even across crashes. The worker sending a delivery holds a lease on it,
renewed before each attempt; a worker that dies leaves its lease to run out, and the delivery is
announced again (``hub.takeover``) for another worker, which sends it with the same key. A
destination that keeps failing opens its circuit breaker (``hub.breakers``): its deliveries wait
without spending attempts while the other destinations carry on. A worker that is stopping lets
go of a delivery between attempts, and its notice goes back on the queue.

Nothing leaves without a stored permit, decided again at the last moment: before the first
attempt and before every retry the sharing decision is re-run on the current register
(``consent.sharing.Sharing.recheck``), so a message queued before a consent was withdrawn is
withheld, with the reason, instead of delivered. Replaying a dead letter puts the delivery back
on its queue, where that same re-check decides it again.

Deliveries waiting for the same destination are taken a batch at a time (``deliver_batch``):
the batch is leased, decided again and its first attempts written down in one transaction, sent
one request each, and the ones delivered are finished (with their disclosures audited) in one
more. Every rule above holds for each delivery of a batch; one whose first attempt fails carries
on alone, through the same retries as a delivery sent on its own.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
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
from hub.breakers import Breakers, CircuitOpen
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
INTERRUPTED = "interrupted: the worker sending it stopped during the attempt"
LEASE_MARGIN_SECONDS = 5.0
BREAKER_POLL_SECONDS = 0.25
_ATTEMPTS = DeliveryAttempt.__table__
OUTCOME = (  # an attempt is known by its delivery and number
    update(_ATTEMPTS)
    .where(_ATTEMPTS.c.delivery_id == bindparam("attempt_of"),
           _ATTEMPTS.c.number == bindparam("attempt_number"))
    .values(duration_ms=bindparam("duration_ms"), status_code=bindparam("status_code"),
            error=bindparam("error"))
)


class Retryable(Exception):
    """This attempt failed in a way another attempt may not."""


class Refused(Exception):
    """The destination refused the message; retrying would not help."""


class Released(Exception):
    """The delivery was let go unfinished (the worker is stopping); its notice goes back on the queue."""


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
    done_before: int  # attempts made on earlier tries (by this worker or one that died)
    lease_until: object
    attempts: list[Attempt] = field(default_factory=list)
    begun: bool = False  # the first attempt was written down with the lease, in one transaction
    last_said: str = "none"  # how the last attempt before this load ended, in short
    failed: Retryable | None = None  # the first attempt, made in a batch, failed and may be retried

    @property
    def made(self) -> int:
        return self.done_before + len(self.attempts)


class Courier:
    def __init__(
        self, database: Database, keyring: KeyRing, relay: OutboxRelay, settings: Settings,
        sharing: Sharing, breakers: Breakers | None = None,
    ):
        self.database = database
        self.keyring = keyring
        self.relay = relay
        self.settings = settings
        self.sharing = sharing
        self.breakers = breakers or Breakers(
            settings.breaker_failures, settings.breaker_reset, healthy=(Refused, Withheld),
        )
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = timedelta(seconds=max(
            settings.delivery_lease,
            settings.delivery_timeout + settings.delivery_backoff_max + LEASE_MARGIN_SECONDS,
        ))

    def deliver(self, delivery_id: str, client: httpx.Client, stopping: threading.Event | None = None) -> str:
        """Deliver one delivery; returns its final status. Safe to call again for the same id.

        Returns ``leased`` when another live worker holds it. Raises ``Released`` when
        ``stopping`` is set before it finished: the delivery is left pending for another worker.
        """
        stopping = stopping or threading.Event()
        job = self._load(delivery_id, stopping)
        if isinstance(job, str):
            return job
        return self._run(job, client, stopping)

    def deliver_batch(
        self, delivery_ids: list[str], client: httpx.Client, stopping: threading.Event | None = None,
    ) -> dict[str, str]:
        """Deliver deliveries waiting for one destination; returns each one's final status, as
        ``deliver`` would. Safe to call again for any of them.

        Those that may be sent now are leased, decided again and have their first attempts
        written down in one transaction; each is sent; those delivered are finished together in
        a second transaction. The rest go through ``deliver`` one by one: a first attempt that
        failed in a way worth retrying carries on with its retries, and a delivery whose
        destination is resting (breaker open), whose attempts are spent or that the worker is
        stopping for is handled as if it had come alone. Raises ``Released`` as ``deliver``
        does; the batch's unfinished deliveries are then let go too.
        """
        stopping = stopping or threading.Event()
        wanted = list(dict.fromkeys(delivery_ids))
        statuses, jobs = self._load_batch(wanted, stopping)
        sent: list[Job] = []
        for job in jobs:
            if not job.begun:
                continue  # resting destination, spent attempts or stopping: decided on its own below
            job.begun = False
            if aware(job.lease_until) - utcnow() < self.lease / 2:  # a batch slow to send
                self._renew(job)
            try:
                self._attempt(job, client)
            except Refused:
                statuses[job.delivery_id] = self._dead(
                    job, f"refused by the destination: {job.attempts[-1].summary}")
            except Retryable as failure:
                job.failed = failure
            else:
                sent.append(job)
        if sent:
            self._delivered_batch(sent)
            statuses.update((job.delivery_id, "delivered") for job in sent)
        carried_on = [job for job in jobs if job.delivery_id not in statuses]
        for index, job in enumerate(carried_on):
            try:
                if job.failed is None:  # nothing tried yet: ``deliver`` takes it from the start
                    statuses[job.delivery_id] = self.deliver(job.delivery_id, client, stopping)
                else:
                    statuses[job.delivery_id] = self._run(job, client, stopping)
            except Released:
                for rest in carried_on[index + 1:]:
                    self._release(rest)
                raise
        return statuses

    def _load_batch(
        self, delivery_ids: list[str], stopping: threading.Event,
    ) -> tuple[dict[str, str], list[Job]]:
        """``_load`` for several deliveries in one transaction: the statuses of those with
        nothing to do, and the jobs of the rest."""
        statuses: dict[str, str] = {}
        jobs: list[Job] = []
        written: list[tuple[Job, Delivery]] = []
        with self.database.transaction() as session:
            deliveries = {row.delivery_id: row for row in session.execute(
                select(Delivery).where(Delivery.delivery_id.in_(delivery_ids))
                .order_by(Delivery.delivery_id).with_for_update()  # one order: no deadlock
            ).scalars()}
            # what the re-checks read, in a statement per table (``Session.get`` then finds it)
            read = self.sharing.preload(session, deliveries.values())  # noqa: F841 - kept while used
            attempted = self._close_interrupted(session, list(deliveries))
            for delivery_id in delivery_ids:
                job = self._take(session, delivery_id, deliveries.get(delivery_id),
                                 attempted.get(delivery_id, ("none", 0)), stopping, written)
                if isinstance(job, str):
                    statuses[delivery_id] = job
                else:
                    jobs.append(job)
            self._write_down(session, written)
        return statuses, jobs

    def _run(self, job: Job, client: httpx.Client, stopping: threading.Event) -> str:
        """The attempts of a loaded job, until it is delivered, dead, withheld or let go."""
        try:
            for attempt in self._retrying(job, stopping):
                with attempt:
                    if job.failed is not None:  # the batch made this attempt; the wait comes next
                        failed, job.failed = job.failed, None
                        raise failed
                    if job.begun:
                        job.begun = False
                    else:
                        self._wait_for_breaker(job, stopping)
                        self._begin(job)
                    self._attempt(job, client)
        except Withheld as withheld:
            return self._withhold_job(job, withheld.recheck)
        except Released:
            self._release(job)
            raise
        except RetryError:
            return self._dead(job, f"gave up after {job.made} attempts; last: {job.attempts[-1].summary}")
        except Refused:
            return self._dead(job, f"refused by the destination: {job.attempts[-1].summary}")
        return self._delivered(job)

    def _retrying(self, job: Job, stopping: threading.Event) -> Retrying:
        def pause(seconds: float) -> None:
            if stopping.wait(seconds):
                raise Released(job.delivery_id)

        return Retrying(
            stop=stop_after_attempt(max(1, self.settings.delivery_max_attempts - job.done_before)),
            wait=wait_random_exponential(
                multiplier=self.settings.delivery_backoff_initial,
                max=self.settings.delivery_backoff_max,
            ),
            retry=retry_if_exception_type(Retryable),
            sleep=pause,
            reraise=False,
        )

    def _load(self, delivery_id: str, stopping: threading.Event) -> Job | str:
        """Take the delivery's lease, decide it again, and make the job; or say why not.

        When the destination's breaker is closed, the first attempt is written down in the same
        transaction, so a delivery that goes through at once costs two transactions, not three."""
        written: list[tuple[Job, Delivery]] = []
        with self.database.transaction() as session:
            delivery = session.get(Delivery, delivery_id, with_for_update=True)
            last = self._close_interrupted(session, [delivery_id]).get(delivery_id, ("none", 0))
            job = self._take(session, delivery_id, delivery, last, stopping, written)
            self._write_down(session, written)
        if isinstance(job, Job) and job.done_before >= self.settings.delivery_max_attempts:
            return self._dead(job, f"gave up after {job.done_before} attempts; last: {job.last_said}")
        return job

    def _take(
        self, session: Session, delivery_id: str, delivery: Delivery | None, last: tuple[str, int],
        stopping: threading.Event, written: list[tuple[Job, Delivery]],
    ) -> Job | str:
        """Lease a locked delivery, decide it again and make its job, with its first attempt
        written down (to ``written``) when it may be made now; or say why not."""
        if delivery is None:
            log.warning("delivery notice for unknown delivery %s ignored", delivery_id)
            return "unknown"
        if delivery.status in FINISHED:
            return delivery.status
        now = utcnow()
        if (delivery.leased_by not in (None, self.holder)
                and aware(delivery.lease_until) is not None and aware(delivery.lease_until) > now):
            return "leased"
        system = session.get(ConnectedSystem, delivery.destination)  # held for the re-check too
        recheck = self.sharing.recheck(session, delivery)
        if not recheck.decision.permitted:
            self._withhold(session, recheck, None)
            return "withheld"
        payload = open_json(
            self.keyring, delivery.key_id, delivery.payload_sealed, f"delivery:{delivery_id}"
        )
        said, last_number = last
        job = Job(
            delivery_id=delivery_id, destination=delivery.destination,
            url=f"{system.endpoint_url}{payload['path']}", body=payload["body"].encode(),
            content_type=payload["content_type"], message_id=delivery.message_id,
            recheck=recheck, done_before=delivery.attempts, lease_until=now + self.lease,
            last_said=said,
        )
        if (job.done_before < self.settings.delivery_max_attempts and not stopping.is_set()
                and self.breakers.wait_before_trying(job.destination) <= 0):
            self._add_attempt(delivery, job, last_number + 1)
            written.append((job, delivery))
            job.begun = True
        else:
            delivery.leased_by, delivery.lease_until = self.holder, job.lease_until
        return job

    def _write_down(self, session: Session, written: list[tuple[Job, Delivery]]) -> None:
        """Insert the attempts about to be made and renew their deliveries' leases: a statement
        per table, however many there are."""
        if not written:
            return
        session.execute(insert(DeliveryAttempt), [dict(
            delivery_id=job.delivery_id, number=job.attempts[-1].number,
            started_at=job.attempts[-1].started_at, duration_ms=0,
        ) for job, _ in written])
        session.execute(update(Delivery), [dict(
            delivery_id=job.delivery_id, attempts=delivery.attempts, leased_by=self.holder,
            lease_until=job.lease_until,
        ) for job, delivery in written])

    @staticmethod
    def _close_interrupted(session: Session, delivery_ids: list[str]) -> dict[str, tuple[str, int]]:
        """Attempts a dead worker started and never finished are marked interrupted. Returns,
        for each delivery attempted before, what happened to its last attempt, in short, and
        that attempt's number."""
        rows = session.execute(
            select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(delivery_ids))
            .order_by(DeliveryAttempt.delivery_id, DeliveryAttempt.number)
        ).scalars().all()
        last: dict[str, tuple[str, int]] = {}
        for row in rows:
            if row.status_code is None and row.error is None:
                row.error = INTERRUPTED
            said = f"HTTP {row.status_code}" if row.status_code is not None else row.error.split(":", 1)[0]
            last[row.delivery_id] = (said, row.number)
        return last

    def _wait_for_breaker(self, job: Job, stopping: threading.Event) -> None:
        """While the destination's breaker is open, wait (keeping the lease) without an attempt."""
        while (wait := self.breakers.wait_before_trying(job.destination)) > 0:
            if stopping.wait(min(wait, BREAKER_POLL_SECONDS)):
                raise Released(job.delivery_id)
            if aware(job.lease_until) - utcnow() < self.lease / 2:
                self._renew(job)
        if stopping.is_set():
            raise Released(job.delivery_id)

    def _renew(self, job: Job) -> None:
        with self.database.transaction() as session:
            delivery = session.get(Delivery, job.delivery_id, with_for_update=True)
            delivery.leased_by, delivery.lease_until = self.holder, utcnow() + self.lease
            job.lease_until = delivery.lease_until

    def _begin(self, job: Job) -> None:
        """Before a request: decide again (on a retry), renew the lease, write the attempt down."""
        with self.database.transaction() as session:
            delivery = session.get(Delivery, job.delivery_id, with_for_update=True)
            if job.attempts:
                recheck = self.sharing.recheck(session, delivery)
                if not recheck.decision.permitted:
                    raise Withheld(recheck)
                job.recheck = recheck
            number = session.execute(
                select(func.coalesce(func.max(DeliveryAttempt.number), 0))
                .where(DeliveryAttempt.delivery_id == job.delivery_id)
            ).scalar_one() + 1
            self._write_attempt(session, delivery, job, number)

    def _write_attempt(self, session: Session, delivery: Delivery, job: Job, number: int) -> None:
        """Write the attempt about to be made, and renew the lease for it."""
        self._add_attempt(delivery, job, number)
        self._write_down(session, [(job, delivery)])

    def _add_attempt(self, delivery: Delivery, job: Job, number: int) -> None:
        """The attempt about to be made, on the job, and the delivery as it will be written
        (``_write_down``): its attempts counted, its lease renewed for the attempt."""
        started = utcnow()
        job.lease_until = started + self.lease
        job.attempts.append(Attempt(number=number, started_at=started, duration_ms=0))
        for key, value in (("attempts", delivery.attempts + 1), ("leased_by", self.holder),
                           ("lease_until", job.lease_until)):
            set_committed_value(delivery, key, value)  # written by ``_write_down``, not the flush

    def _attempt(self, job: Job, client: httpx.Client) -> None:
        attempt = job.attempts[-1]
        try:
            self.breakers.breaker(job.destination).call(self._send, job, attempt, client)
        except CircuitOpen as error:
            attempt.error = "circuit breaker open: not sent"
            self._record(job, attempt)
            raise Retryable(attempt.error) from error
        except (Retryable, Refused):
            self._record(job, attempt)
            raise

    def _send(self, job: Job, attempt: Attempt, client: httpx.Client) -> None:
        clock = time.perf_counter()
        try:
            response = client.post(job.url, content=job.body, headers={
                "Content-Type": job.content_type, "Idempotency-Key": job.delivery_id,
                "X-Hub-Message-Id": job.message_id,
            })
        except httpx.HTTPError as error:
            attempt.error = f"{type(error).__name__}: {error}"[:500]
            self._measure(job, attempt, clock, "error")
            raise Retryable(attempt.error) from error
        self._judge(job, attempt, clock, response)

    def _judge(self, job: Job, attempt: Attempt, clock: float, response: httpx.Response) -> None:
        """A success returns; a failure raises (inside the breaker, so a 5xx counts against it)."""
        attempt.status_code = response.status_code
        if response.is_success:
            self._measure(job, attempt, clock, "ok")
            return
        attempt.error = f"HTTP {response.status_code}: {response.text[:300]}"
        self._measure(job, attempt, clock, str(response.status_code))
        if response.status_code >= 500 or response.status_code in RETRYABLE_STATUS:
            raise Retryable(attempt.error)
        raise Refused(attempt.error)

    def _record(self, job: Job, attempt: Attempt) -> None:
        """A failed attempt's outcome, written at once: a crash during the wait loses nothing."""
        with self.database.transaction() as session:
            self._write_outcomes(session, [job])

    @staticmethod
    def _write_outcomes(session: Session, jobs: list[Job]) -> None:
        """How each job's latest attempt went, in one statement for all of them."""
        session.connection().execute(OUTCOME, [dict(
            attempt_of=job.delivery_id, attempt_number=job.attempts[-1].number,
            duration_ms=job.attempts[-1].duration_ms, status_code=job.attempts[-1].status_code,
            error=job.attempts[-1].error,
        ) for job in jobs])

    @staticmethod
    def _measure(job: Job, attempt: Attempt, clock: float, result: str) -> None:
        elapsed = time.perf_counter() - clock
        attempt.duration_ms = int(elapsed * 1000)
        metrics.ATTEMPTS.labels(job.destination, result).inc()
        metrics.DELIVERY_SECONDS.labels(job.destination).observe(elapsed)

    def _finish(self, session: Session, job: Job | None, delivery_id: str, status: str,
                error: str | None) -> Delivery:
        delivery = session.get(Delivery, delivery_id, with_for_update=True)
        if job is not None and job.attempts:
            self._write_outcomes(session, [job])
        delivery.status = status
        delivery.last_error = error
        delivery.completed_at = utcnow()
        delivery.leased_by, delivery.lease_until = None, None
        metrics.DELIVERIES.labels(delivery.destination, status).inc()
        return delivery

    def _release(self, job: Job) -> None:
        """Let go of an unfinished delivery: the lease ends now, so anyone may take it."""
        with self.database.transaction() as session:
            delivery = session.get(Delivery, job.delivery_id, with_for_update=True)
            if delivery.leased_by == self.holder:
                delivery.leased_by, delivery.lease_until = None, None
        log.info("delivery %s released unfinished after %d attempts", job.delivery_id, job.made)

    def _delivered(self, job: Job) -> str:
        self._delivered_batch([job])
        return "delivered"

    def _delivered_batch(self, jobs: list[Job]) -> None:
        """Finish delivered jobs in one transaction: a statement per table for the attempts'
        outcomes and the deliveries, and one disclosure entry each."""
        now = utcnow()
        with self.database.transaction() as session:
            self._write_outcomes(session, jobs)
            session.execute(update(Delivery), [dict(
                delivery_id=job.delivery_id, status="delivered", last_error=None, completed_at=now,
                leased_by=None, lease_until=None,
            ) for job in jobs])
            for job in jobs:
                delivery = job.recheck.delivery  # as loaded with the job, its attempts counted
                metrics.DELIVERIES.labels(job.destination, "delivered").inc()
                metrics.DELIVERY_LATENCY.labels(job.destination, delivery.message_type).observe(
                    (now - aware(delivery.created_at)).total_seconds())
                self._disclosed(session, job, delivery.message_type, delivery.decision_id,
                                delivery.attempts)

    def _disclosed(self, session: Session, job: Job, message_type: str, planned_decision_id: str,
                   attempts: int) -> None:
        """The disclosure made, audited with the decision it was made on and its legal basis."""
        decision = job.recheck.decision
        decision_id = self.sharing.keep(session, job.recheck, audit=False)
        record(
            session, "disclosure", "hub", job.message_id, subjects=job.recheck.subjects,
            destination=job.destination, delivery_id=job.delivery_id,
            message_type=message_type, purpose=decision.purpose,
            decision_id=decision_id, planned_decision_id=planned_decision_id,
            legal_basis=decision.legal_basis, basis_kind=decision.basis_kind,
            basis_refs=list(decision.basis_refs), categories=list(decision.categories),
            fields=sorted(set(decision.shared)), attempts=attempts,
        )

    def _withhold_job(self, job: Job, recheck: Recheck) -> str:
        with self.database.transaction() as session:
            self._withhold(session, recheck, job)
        return "withheld"

    def _withhold(self, session: Session, recheck: Recheck, job: Job | None) -> None:
        """The delivery stops here: the refusal is stored as a decision and audited, with its reason."""
        decision_id = self.sharing.keep(session, recheck)
        delivery = self._finish(session, job, recheck.delivery.delivery_id, "withheld",
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
            delivery.attempts = 0  # a fresh budget of attempts; the attempt log keeps the earlier ones
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
            delivery = self._finish(session, job, job.delivery_id, "dead", reason)
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
