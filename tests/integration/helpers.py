"""Small helpers for tests that talk to a running hub over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from simulators.caf_system import CafSystemSimulator


def submit(hub_url: str, token: str, body: bytes, system: str = "caf-national",
           content_type: str = "application/xml") -> httpx.Response:
    if content_type == "application/xml":
        return CafSystemSimulator.send(hub_url, system, token, body)
    return httpx.post(f"{hub_url}/v1/systems/{system}/messages", content=body, timeout=30,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})


def status(hub_url: str, token: str, tracking_id: str) -> dict[str, Any]:
    reply = httpx.get(f"{hub_url}/v1/messages/{tracking_id}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
    reply.raise_for_status()
    return reply.json()


def eventually(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def settled(hub_url: str, token: str, tracking_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The message's status once every delivery has finished (delivered or dead)."""

    def finished() -> dict[str, Any] | None:
        current = status(hub_url, token, tracking_id)
        deliveries = current["deliveries"]
        if deliveries and all(d["status"] in ("delivered", "dead") for d in deliveries):
            return current
        return None

    return eventually(finished, timeout, f"message {tracking_id} to settle")
