"""The canonical data model: one place where the hub says what a child, an episode or an event is.

Free of infrastructure; adapters translate to and from it at the edge.
"""

from hub.canonical.categories import DataCategory, categorised, field_categories
from hub.canonical.envelope import Envelope, FieldSource, Purpose, new_id, utcnow
from hub.canonical.events import EVENT_TYPES, LeadProfessionalChanged

__all__ = [
    "DataCategory",
    "EVENT_TYPES",
    "Envelope",
    "FieldSource",
    "LeadProfessionalChanged",
    "Purpose",
    "categorised",
    "field_categories",
    "new_id",
    "utcnow",
]
