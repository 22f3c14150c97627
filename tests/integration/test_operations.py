"""Health, readiness, metrics and the OpenAPI document for the people who run the hub."""

from __future__ import annotations

import httpx

from simulators.hannah import melanie_agreed
from tests.integration.helpers import settled, submit


def test_readiness_reports_the_store_and_the_broker(running_hub):
    reply = httpx.get(f"{running_hub.url}/health/ready")

    assert reply.status_code == 200
    assert reply.json() == {"status": "ready", "store": "ok", "broker": "ok"}


def test_metrics_count_messages_and_deliveries(running_hub):
    tracking_id = submit(running_hub.url, running_hub.caf_token, melanie_agreed()).json()["tracking_id"]
    settled(running_hub.url, running_hub.caf_token, tracking_id)

    metrics = httpx.get(f"{running_hub.url}/metrics").text

    assert 'hub_inbound_messages_total{outcome="accepted",system="caf-national"}' in metrics
    assert 'hub_deliveries_total{destination="directory",outcome="delivered"}' in metrics


def test_the_openapi_document_describes_the_inbound_and_status_endpoints(running_hub):
    spec = httpx.get(f"{running_hub.url}/openapi.json").json()

    inbound = spec["paths"]["/v1/systems/{system_id}/messages"]["post"]
    assert set(inbound["responses"]) >= {"202", "400", "401", "403", "413", "415", "422"}
    assert "/v1/messages/{tracking_id}" in spec["paths"]


def test_a_message_status_is_private_to_its_sender(running_hub):
    from hub.registry import register

    tracking_id = submit(running_hub.url, running_hub.caf_token, melanie_agreed()).json()["tracking_id"]
    with running_hub.database.transaction() as session:
        other = register(session, "caf-local", "Local eCAF", "caf_system").token

    reply = httpx.get(f"{running_hub.url}/v1/messages/{tracking_id}",
                      headers={"Authorization": f"Bearer {other}"})

    assert reply.status_code == 404
