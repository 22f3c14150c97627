"""Destination profiles: the data categories each kind of connected system may ever receive.

The directory's profile leaves out ``case`` and ``sensitive`` by construction, so no mapping or
flow mistake can put an assessment or a medical detail on it. Partner agencies may receive case
data (a CAF shared with a TAC member) but never ``sensitive``; whether they receive anything at
all is the sharing policy's rules and the child's consent.
"""

from __future__ import annotations

from hub.canonical import DataCategory as C

ALLOWED_CATEGORIES: dict[str, frozenset[C]] = {
    "directory": frozenset({C.IDENTITY, C.CONTACT, C.CARER, C.INVOLVEMENT}),
    "caf_system": frozenset({C.IDENTITY, C.CONTACT, C.CARER, C.INVOLVEMENT, C.CASE}),
    "case_system": frozenset({C.IDENTITY, C.CONTACT, C.CARER, C.INVOLVEMENT, C.CASE}),
    "partner": frozenset({C.IDENTITY, C.CONTACT, C.CARER, C.INVOLVEMENT, C.CASE}),
}


def allowed_categories(kind: str) -> frozenset[C]:
    return ALLOWED_CATEGORIES.get(kind, frozenset())
