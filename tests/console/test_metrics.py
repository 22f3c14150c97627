"""/metrics: counters and latency per flow, system and destination; queue depths, dead letters and
consent denials read from the broker and the store at scrape time, on both backends."""

from __future__ import annotations

import re

import httpx

from simulators.hannah import melanie_agreed
from tests.integration.helpers import settled, submit


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample, whatever the order of its labels."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_show_flows_latency_queue_depths_and_waiting_work(running_hub):
    tracking_id = submit(running_hub.url, running_hub.caf_token, melanie_agreed()).json()["tracking_id"]
    settled(running_hub.url, running_hub.caf_token, tracking_id)

    text = httpx.get(f"{running_hub.url}/metrics", timeout=30).text

    assert sample(text, "hub_messages_processed_total", flow="lead-professional-changed",
                  system="caf-national", status="processed") >= 1
    assert sample(text, "hub_processing_seconds_count", flow="lead-professional-changed",
                  system="caf-national") >= 1
    assert sample(text, "hub_delivery_latency_seconds_count", destination="directory",
                  message_type="lead-professional-changed") >= 1
    prefix = running_hub.hub.settings.queue_prefix
    assert sample(text, "hub_queue_depth", queue=f"{prefix}.inbound") == 0
    assert sample(text, "hub_queue_depth", queue=f"{prefix}.deliver.directory") == 0
    assert sample(text, "hub_messages_held") == 0
    assert "hub_dead_letters" in text and "hub_deliveries_pending" in text
