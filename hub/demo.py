"""``hub demo``: the lead-professional flow end to end, against simulated systems, on the embedded default.

Hannah's TAC agrees Melanie, her school's learning mentor, as lead professional; the CAF system
tells the hub; the directory shows it. The demo prints each step the hub took and why.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx
from lxml import etree
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from sqlalchemy import select

from hub.api.app import create_app
from hub.bootstrap import Hub, bootstrap
from hub.registry import register
from hub.sealing import open_json
from hub.settings import Settings
from hub.store.tables import Delivery
from hub.worker import Worker
from simulators.caf_system import CafSystemSimulator
from simulators.directory import DirectorySimulator
from simulators.hannah import melanie_agreed
from simulators.server import ServerThread


def wait_for(condition, timeout: float = 30.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return None


def run_demo(console: Console, data_dir: Path | None) -> int:
    work = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="hub-demo-"))
    settings = Settings(data_dir=work, database_url=None, broker_url=None,
                        delivery_backoff_initial=0.2, relay_interval=0.5)
    directory, caf = DirectorySimulator(), CafSystemSimulator()
    servers = [ServerThread(directory.app).start(), ServerThread(caf.app).start()]
    hub = bootstrap(settings, migrate=True)
    with hub.database.transaction() as session:
        caf_token = register(session, "caf-national", "National eCAF (simulated)", "caf_system").token
        register(session, "directory", "Directory (simulated)", "directory", servers[0].url)
    worker = Worker(hub)
    worker.start()
    api = ServerThread(create_app(hub)).start()
    servers.append(api)
    console.print(Panel.fit(
        f"store  {settings.resolved_database_url}\nbroker {settings.resolved_broker_url}\n"
        f"hub API {api.url}   directory {servers[0].url}   CAF system {servers[1].url}",
        title="embedded hub and simulated systems are up",
    ))
    try:
        return _walk_through(console, api.url, caf_token, directory, hub)
    finally:
        worker.stop()
        for server in servers:
            server.stop()
        hub.close()


def _walk_through(
    console: Console, hub_url: str, token: str, directory: DirectorySimulator, hub: Hub,
) -> int:
    body = melanie_agreed()
    console.print("1. The CAF system reports: the TAC agreed Melanie as Hannah's lead professional.")
    reply = CafSystemSimulator.send(hub_url, "caf-national", token, body)
    tracking_id = reply.json()["tracking_id"]
    console.print(f"   hub answered {reply.status_code}, tracking id {tracking_id}")

    again = CafSystemSimulator.send(hub_url, "caf-national", token, body)
    console.print(f"2. The same message sent again: {again.status_code}, tracking id "
                  f"{again.json()['tracking_id']} (duplicate={again.json()['duplicate']})")

    status = wait_for(lambda: _delivered(hub_url, token, tracking_id))
    if status is None:
        console.print("[red]the update did not reach the directory within 30 seconds[/]")
        return 1
    decision = status["decisions"][0]
    table = Table("destination", "decision", "legal basis", "fields shared", "withheld")
    table.add_row(decision["destination"], decision["outcome"], decision["legal_basis"],
                  str(len(decision["fields_shared"])), ", ".join(decision["fields_withheld"]) or "-")
    console.print("3. The sharing decision:")
    console.print(table)
    delivery = status["deliveries"][0]
    console.print(f"4. Delivery to {delivery['destination']}: {delivery['status']} after "
                  f"{delivery['attempts']} attempt(s)")
    received = directory.state.received
    console.print(f"5. The directory received {len(received)} update(s); its data feed said:")
    console.print(Syntax(_pretty(received[-1].body), "xml", word_wrap=True))
    provenance = _provenance(hub, tracking_id)
    if provenance:
        console.print(f"6. Where each field came from ({len(provenance)} fields), e.g.:")
        for field in provenance[:4]:
            origin = field["origin"] or {}
            console.print(f"   {field['wire_path']}  <- rule {field['rule_id']} "
                          f"({field['spec_id']} {field['mapping_version']})  <- "
                          f"{origin.get('system')}:{origin.get('wire_path')}")
    return 0


def _pretty(xml: str) -> str:
    return etree.tostring(etree.fromstring(xml.encode()), pretty_print=True).decode()


def _provenance(hub: Hub, tracking_id: str) -> list[dict]:
    with hub.database.read() as session:
        delivery = session.execute(
            select(Delivery).where(Delivery.message_id == tracking_id)
        ).scalar_one()
        payload = open_json(hub.keyring, delivery.key_id, delivery.payload_sealed,
                            f"delivery:{delivery.delivery_id}")
    return payload["provenance"]


def _delivered(hub_url: str, token: str, tracking_id: str) -> dict | None:
    reply = httpx.get(f"{hub_url}/v1/messages/{tracking_id}",
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
    status = reply.json()
    deliveries = status.get("deliveries", [])
    if deliveries and all(d["status"] in ("delivered", "dead") for d in deliveries):
        return status
    return None
