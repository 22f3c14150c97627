"""The hub core: canonical model and envelope, flows, store, API, CLI, audit, settings and wiring.

Adapters translate at the edge; everything in here speaks only the canonical model.
"""
