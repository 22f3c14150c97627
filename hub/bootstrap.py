"""Wiring: builds the hub's parts from settings, once, for the API, the workers and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.registry import Adapters
from consent.register import ConsentRegister
from consent.sharing import Sharing
from consent.subjects import SubjectKeys
from hub.courier import Courier
from hub.crypto import KeyRing
from hub.identity import IdentityResolver
from hub.intake import Intake
from hub.processing import Processor
from hub.settings import Settings
from hub.store.database import Database
from hub.store.migrate import upgrade
from mappings.registry import MappingRegistry
from queues.broker import Broker
from queues.outbox import OutboxRelay
from queues.publisher import Publisher


@dataclass
class Hub:
    settings: Settings
    database: Database
    keyring: KeyRing
    adapters: Adapters
    broker: Broker
    publisher: Publisher
    relay: OutboxRelay
    intake: Intake
    processor: Processor
    courier: Courier
    sharing: Sharing

    def close(self) -> None:
        self.relay.close()
        self.publisher.close()
        self.database.dispose()


def load_keyring(settings: Settings) -> KeyRing:
    if settings.encryption_keys:
        return KeyRing.parse(settings.encryption_keys)
    return KeyRing.from_file(settings.key_file)


def bootstrap(settings: Settings | None = None, migrate: bool = False) -> Hub:
    settings = settings or Settings()
    database = Database(settings.resolved_database_url)
    if migrate:
        upgrade(database)
    keyring = load_keyring(settings)
    adapters = Adapters(MappingRegistry(settings.mappings_dir))
    broker = Broker(settings.resolved_broker_url, settings.queue_prefix)
    publisher = Publisher(broker)
    relay = OutboxRelay(database, publisher)
    subjects = SubjectKeys(database, keyring)
    subjects.load()
    sharing = Sharing(keyring, subjects, ConsentRegister(keyring, subjects))
    return Hub(
        settings=settings, database=database, keyring=keyring, adapters=adapters, broker=broker,
        publisher=publisher, relay=relay,
        intake=Intake(database, keyring, relay, adapters),
        processor=Processor(database, keyring, relay, adapters, sharing,
                            IdentityResolver(subjects), settings),
        courier=Courier(database, keyring, relay, settings, sharing), sharing=sharing,
    )
