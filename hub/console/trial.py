""""Try a message": what a pasted message would become at a destination, without sending anything.

The same steps as ``hub mappings explain``: read the message with a connected system's mapping
(the sender's kind/profile given, or each tried in turn), minimise it to the categories the
destination's kind may receive, and render it with the destination's effective mapping (base
plus the authority's override), keeping each field's provenance and the fields refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.registry import KINDS, mapped_adapter
from adapters.rejection import InputRejected
from consent.minimise import minimise
from consent.profiles import allowed_categories
from mappings import engine
from mappings.registry import MappingRegistry


@dataclass
class Trial:
    destination: str
    source: str | None = None
    output: str = ""
    content_type: str = ""
    fields: list[dict] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    error: str | None = None


def try_message(registry: MappingRegistry, spec: str, body: bytes, source: str | None = None) -> Trial:
    trial = Trial(destination=spec)
    destination = registry.all().get(spec)
    if destination is None:
        trial.error = f"no mapping {spec}"
        return trial
    content_type = "application/json" if body.lstrip()[:1] in (b"{", b"[") else "application/xml"
    candidates = [tuple(source.split("/", 1))] if source else sorted(
        {tuple(key.split("/")[:2]) for key in registry.all()})
    received, last = None, None
    for kind, profile in candidates:
        if kind not in KINDS:
            continue
        adapter = mapped_adapter(kind, registry)
        try:
            received = adapter.read(adapter.identify(body, content_type, profile), f"{kind}:{profile}")
            trial.source = f"{kind}/{profile}"
            break
        except InputRejected as error:
            last = error
    if received is None:
        trial.error = ("no connected system's format reads this message"
                       + (f" ({last.status} {last.rule} at {last.field}: {last.detail})" if last else ""))
        return trial
    allowed = allowed_categories(destination.spec.kind)
    shared = minimise(received.event, allowed)
    kind, profile, message_type = spec.split("/", 2)
    try:
        rendered = mapped_adapter(kind, registry).render(profile, message_type, shared.data, {
            "message_id": "(assigned at delivery)", "sent_at": received.occurred_at.isoformat(),
            "correlation_id": received.correlation_id}, received.provenance)
    except (engine.MappingError, InputRejected, LookupError) as error:
        trial.error = (f"could not render: rule {error.rule_id} at {error.where}"
                       if isinstance(error, engine.MappingError) else f"could not render: {error}")
        return trial
    trial.output = rendered.body.decode()
    trial.content_type = rendered.content_type
    trial.fields = [f.to_dict() for f in rendered.fields]
    trial.withheld = list(shared.withheld)
    trial.allowed = sorted(c.value for c in allowed)
    trial.skipped = [f"rule {s.rule_id}: {s.canonical_path} {s.reason}" for s in rendered.skipped]
    return trial
