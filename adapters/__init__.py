"""Adapters: one package per kind of connected system.

Each adapter parses its system's inbound formats into canonical events and renders outbound
messages from canonical data; it owns its schemas. Adapters never decide what may be shared:
that is ``consent``'s job, and they only ever see what it has already minimised.
"""
