"""The store: inbox, outbox, deliveries, quarantine, decisions, audit log and system registry.

SQLAlchemy 2.x on SQLite (WAL) by default or PostgreSQL; the schema is owned by Alembic.
Personal data is only ever written here sealed by ``hub.crypto``.
"""
