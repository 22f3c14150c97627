"""Declarative mappings: field rules from canonical data to each destination's format, as data files.

The engine and the base and per-authority mapping layers live here; a local authority changes a
mapping without a Python release.
"""
