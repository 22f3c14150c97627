"""Provenance templates: the provenance records one level of a reading plan can make, made once
for each sender and place in a document and then shared by every message that fills that place.

A level (the document, or one item of a repeated element) maps fields whose canonical paths and
wire paths are fixed relative to the level: only the level's canonical prefix (``episode.
tac_members[2].``) and its path in the document (``/episodeRecorded/episode/teamAroundTheChild/
member[3]``) vary, and they vary with the message's shape (how many items, in which position),
never with its values. So a level registers its *marks* (canonical path, wire suffix, rule) when
the plan is compiled, and a parse asks for the ``Place`` where the level sits: its prefix, its
path, and the canonical path and ``Provenance`` of each mark, which the parse records for the
fields it finds. Provenance records are immutable, so sharing them between messages is safe.
"""

from __future__ import annotations

from collections.abc import Hashable

from hub.canonical import FieldSource as Provenance

DEFAULT = "(default)"  # the wire path of a value the rule supplied because the message had none
PLACES_KEPT = 1024  # per level: the places it was found in, across senders and shapes


class Place:
    """One level where it sits in a message: the canonical ``prefix`` of its fields, its
    ``where`` in the document, and by mark the canonical ``keys`` and provenance ``sources``."""

    __slots__ = ("prefix", "where", "keys", "sources")

    def __init__(self, prefix: str, where: str, keys: tuple[str, ...],
                 sources: tuple[Provenance, ...]):
        self.prefix, self.where, self.keys, self.sources = prefix, where, keys, sources


class Marks:
    """The provenance one level of a plan can record: ``add`` when compiling, ``place`` when
    parsing."""

    __slots__ = ("spec_id", "version", "_marks", "places")

    def __init__(self, spec_id: str, version: str):
        self.spec_id, self.version = spec_id, version
        self._marks: list[tuple[str, str | None, str]] = []
        # the places kept, by key: compiled steps look here directly (``keep`` empties it in place)
        self.places: dict[Hashable, Place] = {}

    def add(self, canonical: str, suffix: str | None, rule_id: str) -> int:
        """A field ``rule_id`` puts at ``canonical`` (relative to the level), read from ``suffix``
        below the level's element (``None``: the rule's default). Answers the mark's index."""
        self._marks.append((canonical, suffix, rule_id))
        return len(self._marks) - 1

    def place(self, system: str | None, prefix: str, where: str) -> Place:
        """The level at canonical ``prefix`` and wire path ``where``, in a message from ``system``."""
        key = (system, prefix, where)
        found = self.places.get(key)
        return found if found is not None else self.keep(key, self.make(system, prefix, where))

    def keep(self, key: Hashable, place: Place) -> Place:
        if len(self.places) >= PLACES_KEPT:
            self.places.clear()
        self.places[key] = place
        return place

    def make(self, system: str | None, prefix: str, where: str) -> Place:
        return Place(
            prefix, where,
            tuple(prefix + canonical for canonical, _suffix, _rule in self._marks),
            tuple(Provenance(system, DEFAULT if suffix is None else where + suffix, rule_id,
                             self.spec_id, self.version)
                  for _canonical, suffix, rule_id in self._marks),
        )
