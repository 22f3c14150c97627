"""What the sharing decision costs: decisions per second on one core over a register of 100,000 consents.

    python -m bench.decisions                      # in memory and through the store
    python -m bench.decisions --consents 100000 --decisions 60000 --skip-store

The register holds ``--consents`` consents for ``consents / 4`` children (a CAF-assessment
consent, a TAC-sharing consent naming an agency and a practitioner, a referral consent that is
withdrawn for every third child, a TAC-sharing consent that has expired for every fifth) and a
s47 gateway decision for every twentieth child. Each decision is one of Hannah's messages about
a random child, to its destination: a lead-professional change to the directory (statutory), a
CAF episode to a TAC agency (consent, 65 fields minimised), a referral to the case system
(consent, gateway or refusal), and a CAF episode to an agency nobody consented to (refusal).

Two figures, both on one pinned core, best of ``--runs``, as decisions per CPU second of this
process (the wall-clock rate is printed too; on a shared machine it also counts other work):

* ``in memory``: ``decide()`` with the child's subject keys computed (HMAC-SHA256) and the child's
  register state taken from a warm in-process map of the 100,000 consents: the decision itself;
* ``through the store``: per message, the child's consents and gateways read from SQLite (WAL,
  indexed by subject key, pages warm) as the worker does, then one decision per destination.

Results go to ``bench/results/decisions.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import secrets
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from consent.policy import Destination, Recipient, SharingDecision, decide
from consent.register import ConsentGrant, ConsentRegister, GatewayGrant, RegisterState
from consent.subjects import SubjectKeys
from consent.vocabulary import DEFAULT_CATEGORIES, ConsentPurpose, Gateway, GivenBy, parse_scope
from hub.canonical import Envelope
from hub.canonical.events import CafEpisodeRecorded, LeadProfessionalChanged, ReferralToSocialCare
from hub.canonical.people import ChildIdentifiers
from hub.crypto import KeyRing, new_key_spec
from hub.sealing import seal_json
from hub.store.database import Database
from hub.store.migrate import upgrade
from hub.store.tables import ConsentRecord, LegalGatewayRecord, RegisterSubject

NOW = datetime.now(UTC)
RESULTS = Path(__file__).parent / "results" / "decisions.json"

DIRECTORY = Destination("directory", "directory", frozenset({"lead-professional-changed"}))
YOUTH = Destination("youth-service", "partner", frozenset({"caf-episode-recorded"}),
                    name="Northfield Youth Service", recipients=(Recipient("P-LEE-01", "Youth worker"),))
CARERS = Destination("young-carers", "partner", frozenset({"caf-episode-recorded"}),
                     name="Young Carers Group", recipients=(Recipient("P-LIB-01", "Young carers worker"),))
HOUSING = Destination("housing", "partner", frozenset({"caf-episode-recorded"}), name="Northfield Housing",
                      recipients=(Recipient("P-STE-01", "Housing officer"),))
CASE_SYSTEM = Destination("lcs", "case_system", frozenset({"referral-to-social-care"}))


def grants_for(child: int) -> tuple[tuple[ConsentGrant, ...], tuple[GatewayGrant, ...]]:
    """The four consents (and maybe a gateway decision) the synthetic register holds for a child."""
    given = NOW - timedelta(days=90)

    def consent(n: int, purpose: ConsentPurpose, scope: list[str], **changes: Any) -> ConsentGrant:
        return ConsentGrant(
            consent_id=f"c-{child}-{n}", purpose=purpose, given_by=GivenBy.CHILD, competent=True,
            scope=parse_scope(scope), categories=DEFAULT_CATEGORIES[purpose], given_at=given, **changes,
        )

    consents = (
        consent(1, ConsentPurpose.CAF_ASSESSMENT, ["kind:caf_system"]),
        consent(2, ConsentPurpose.TAC_SHARING, ["agency:youth-service", "practitioner:P-LIB-01"]),
        consent(3, ConsentPurpose.REFERRAL_TO_SOCIAL_CARE, ["kind:case_system"],
                withdrawn_at=NOW - timedelta(days=1) if child % 3 == 0 else None),
        consent(4, ConsentPurpose.TAC_SHARING, ["agency:housing"],
                expires_at=NOW - timedelta(days=1) if child % 5 == 0 else NOW + timedelta(days=365)),
    )
    gateways = (GatewayGrant(
        gateway_id=f"g-{child}", gateway=Gateway.S47_SIGNIFICANT_HARM,
        purposes=frozenset({ConsentPurpose.REFERRAL_TO_SOCIAL_CARE}), scope=parse_scope(["kind:case_system"]),
        categories=None, decided_by="P-TM-03", decided_by_role="Team manager",
        decided_at=NOW - timedelta(days=2)),) if child % 20 == 0 else ()
    return consents, gateways


def identifiers(child: int) -> ChildIdentifiers:
    return ChildIdentifiers(caf_child_id=f"CAF-{child:07d}", la_child_id=f"LA-{child:07d}")


def messages(children: int, count: int, seed: int = 7) -> list[tuple[Envelope, tuple[Destination, ...]]]:
    """Hannah's messages, each about a random child, with the destinations the flows route it to."""
    from tests.consent.story import episode, hannah, lead_professional, referral

    rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
    out: list[tuple[Envelope, tuple[Destination, ...]]] = []
    for _ in range(count):
        child = hannah(identifiers=identifiers(rng.randrange(children)))
        kind = rng.randrange(3)
        if kind == 0:
            envelope = lead_professional(child)
            out.append((envelope, (DIRECTORY,)))
        elif kind == 1:
            envelope = episode(2, child=child)
            out.append((envelope, (YOUTH, CARERS, HOUSING)))
        else:
            envelope = referral(1)
            payload = envelope.payload.model_copy(update={"child": child})
            envelope = envelope.model_copy(update={"payload": payload})
            out.append((envelope, (CASE_SYSTEM,)))
    assert all(isinstance(e.payload, LeadProfessionalChanged | CafEpisodeRecorded | ReferralToSocialCare)
               for e, _ in out)
    return out


@dataclass
class Figure:
    """A run's count, wall time and CPU time. The rate is per CPU second, so another process
    sharing the machine does not count against the decision; the wall rate is printed beside it."""

    decisions: int
    seconds: float
    cpu_seconds: float
    outcomes: Counter

    @property
    def per_second(self) -> float:
        return self.decisions / self.cpu_seconds

    @property
    def per_wall_second(self) -> float:
        return self.decisions / self.seconds


def warm_register(subjects: SubjectKeys, children: int) -> dict[str, RegisterState]:
    """Each child's register state under each of the child's subject keys, as a warm cache holds it."""
    index: dict[str, RegisterState] = {}
    for child in range(children):
        consents, gateways = grants_for(child)
        state = RegisterState(consents, gateways)
        for key in subjects.keys_for(identifiers(child)):
            index[key] = state
    return index


def in_memory(subjects: SubjectKeys, index: dict[str, RegisterState], work: list, runs: int) -> Figure:
    best: Figure | None = None
    for _ in range(runs):
        outcomes: Counter = Counter()
        started, cpu_started = time.perf_counter(), time.process_time()
        decided = 0
        for envelope, destinations in work:
            keys = subjects.keys_for(envelope.payload.child.identifiers)
            state = index.get(keys[0], RegisterState())
            for destination in destinations:
                decision: SharingDecision = decide(envelope, destination, state, NOW)
                outcomes[decision.basis_kind if decision.permitted else "deny"] += 1
                decided += 1
        figure = Figure(decided, time.perf_counter() - started, time.process_time() - cpu_started, outcomes)
        if best is None or figure.per_second > best.per_second:
            best = figure
    assert best is not None
    return best


def build_store(path: Path, keyring: KeyRing, subjects: SubjectKeys, children: int) -> Database:
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    consent_rows, gateway_rows, subject_rows = [], [], []
    recorded = datetime.now(UTC)
    for child in range(children):
        keys = subjects.keys_for(identifiers(child))
        consents, gateways = grants_for(child)
        for grant in consents:
            sealed = seal_json(keyring, {"given_by_name": None}, f"consent:{grant.consent_id}")
            consent_rows.append(dict(
                consent_id=grant.consent_id, purpose=grant.purpose.value, given_by=grant.given_by.value,
                competent=grant.competent, scope=[str(s) for s in grant.scope],
                categories=sorted(c.value for c in grant.categories), method="written",
                given_at=grant.given_at, expires_at=grant.expires_at, recorded_at=recorded,
                recorded_by="bench", withdrawn_at=grant.withdrawn_at, key_id=sealed.key_id,
                details_sealed=sealed.blob,
            ))
            subject_rows += [dict(record_id=grant.consent_id, subject_key=key, record_kind="consent")
                             for key in keys]
        for grant in gateways:
            sealed = keyring.seal(b"reason", f"gateway:{grant.gateway_id}")
            gateway_rows.append(dict(
                gateway_id=grant.gateway_id, gateway=grant.gateway.value,
                purposes=sorted(p.value for p in grant.purposes), scope=[str(s) for s in grant.scope],
                categories=None, decided_by=grant.decided_by, decided_by_role=grant.decided_by_role,
                decided_at=grant.decided_at, recorded_at=recorded, recorded_by="bench",
                reason_digest="0" * 64, key_id=sealed.key_id, reason_sealed=sealed.blob,
            ))
            subject_rows += [dict(record_id=grant.gateway_id, subject_key=key, record_kind="gateway")
                             for key in keys]
    with database.transaction() as session:
        for table, rows in ((ConsentRecord, consent_rows), (LegalGatewayRecord, gateway_rows),
                            (RegisterSubject, subject_rows)):
            for start in range(0, len(rows), 5000):
                session.execute(insert(table), rows[start:start + 5000])
    return database


def through_store(database: Database, register: ConsentRegister, work: list, runs: int) -> Figure:
    best: Figure | None = None
    for _ in range(runs):
        outcomes: Counter = Counter()
        started, cpu_started = time.perf_counter(), time.process_time()
        decided = 0
        for envelope, destinations in work:
            keys = register.subjects.keys_for(envelope.payload.child.identifiers)
            with database.read() as session:
                state = register.state_for(session, keys)
            for destination in destinations:
                decision = decide(envelope, destination, state, NOW)
                outcomes[decision.basis_kind if decision.permitted else "deny"] += 1
                decided += 1
        figure = Figure(decided, time.perf_counter() - started, time.process_time() - cpu_started, outcomes)
        if best is None or figure.per_second > best.per_second:
            best = figure
    assert best is not None
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--consents", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=60_000, help="messages (about 1.7 decisions each)")
    parser.add_argument("--store-messages", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-store", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    children = args.consents // 4
    keyring = KeyRing.parse(new_key_spec("bench"))
    results: dict[str, Any] = {
        "consents": children * 4, "children": children, "python": platform.python_version(),
        "machine": platform.machine(), "cpus": os.cpu_count(), "at": datetime.now(UTC).isoformat(),
    }
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as work_dir:
        database = Database(f"sqlite:///{Path(work_dir) / 'secret.db'}")
        subjects = SubjectKeys(database, keyring, secret=secrets.token_bytes(32))
        work = messages(children, args.decisions)
        index = warm_register(subjects, children)
        gc.collect()
        gc.freeze()  # the workload and the register are not garbage: keep the collector off them
        memory = in_memory(subjects, index, work, args.runs)
        results["in_memory"] = report("in memory", memory)
        if not args.skip_store:
            store = build_store(Path(work_dir) / "register.db", keyring, subjects, children)
            register = ConsentRegister(keyring, subjects)
            stored = through_store(store, register, work[: args.store_messages], args.runs)
            results["through_store"] = report("through the store (SQLite)", stored)
            store.dispose()
        database.dispose()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def report(label: str, figure: Figure) -> dict[str, Any]:
    print(f"{label}: {figure.per_second:,.0f} decisions per CPU second on one core "
          f"({1e6 / figure.per_second:.1f} us each; {figure.per_wall_second:,.0f}/s by the wall clock; "
          f"{figure.decisions:,} decisions: "
          f"{', '.join(f'{k} {v:,}' for k, v in sorted(figure.outcomes.items()))})")
    return {"decisions": figure.decisions, "seconds": round(figure.seconds, 3),
            "cpu_seconds": round(figure.cpu_seconds, 3), "per_cpu_second": round(figure.per_second),
            "per_wall_second": round(figure.per_wall_second), "outcomes": dict(figure.outcomes)}


if __name__ == "__main__":
    main()
