"""Prometheus metrics of the message path. Labels carry system ids and outcomes, never personal data."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

INBOUND = Counter(
    "hub_inbound_messages_total", "Inbound messages by source system and outcome",
    ["system", "outcome"],
)
DECISIONS = Counter(
    "hub_sharing_decisions_total", "Sharing decisions by destination and outcome",
    ["destination", "outcome"],
)
DELIVERIES = Counter(
    "hub_deliveries_total", "Deliveries finished by destination and outcome",
    ["destination", "outcome"],
)
ATTEMPTS = Counter(
    "hub_delivery_attempts_total", "Delivery attempts by destination and result",
    ["destination", "result"],
)
DELIVERY_SECONDS = Histogram(
    "hub_delivery_attempt_seconds", "Time of one delivery attempt", ["destination"],
)
