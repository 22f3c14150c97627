"""Declarative mappings: how each connected system's format maps to and from the canonical model.

A mapping spec is a data file (YAML) validated by a pydantic schema: rules pair a path in the
system's format (XPath for XML, a dotted path for JSON) with a canonical field, with code lists,
named transforms, conditions and repeated elements. The hub ships a base layer; an authority
keeps its own override layer in a directory it owns, merged over the base by rule id. Every
parsed or rendered field carries its provenance (system, path, rule id, mapping version).
This package knows nothing of HTTP, queues or consent: it translates, and reports what it did.
"""
