"""Messaging over kombu: topology, broker connections, the publisher, consumers and the outbox relay.

The broker carries only identifiers (a tracking id, a delivery id); the payloads stay sealed in the
store. The same code runs on the embedded SQLAlchemy transport and on RabbitMQ quorum queues.
"""
