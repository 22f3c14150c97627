"""Canonical people: the child, their carers and the practitioners who work with them."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from hub.canonical.categories import DataCategory as C
from hub.canonical.categories import categorised


class Gender(StrEnum):
    """Children in Need census gender codes."""

    NOT_KNOWN = "0"
    MALE = "1"
    FEMALE = "2"
    INDETERMINATE = "9"


class Canonical(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChildIdentifiers(Canonical):
    nhs_number: str | None = categorised(C.IDENTITY, None)
    upn: str | None = categorised(C.IDENTITY, None)
    directory_id: str | None = categorised(C.IDENTITY, None)
    la_child_id: str | None = categorised(C.IDENTITY, None)
    caf_child_id: str | None = categorised(C.IDENTITY, None)


class PersonName(Canonical):
    given: str = categorised(C.IDENTITY)
    family: str = categorised(C.IDENTITY)


class Address(Canonical):
    lines: list[str] = categorised(C.CONTACT, default_factory=list)
    postcode: str | None = categorised(C.CONTACT, None)


class ContactDetails(Canonical):
    phone: str | None = categorised(C.CONTACT, None)
    email: str | None = categorised(C.CONTACT, None)


class Carer(Canonical):
    name: PersonName = categorised(C.CARER)
    relationship: str | None = categorised(C.CARER, None)
    parental_responsibility: bool | None = categorised(C.CARER, None)
    contact: ContactDetails | None = categorised(C.CARER, None)


class Child(Canonical):
    identifiers: ChildIdentifiers = categorised(C.IDENTITY)
    name: PersonName = categorised(C.IDENTITY)
    former_names: list[PersonName] = categorised(C.IDENTITY, default_factory=list)
    date_of_birth: date | None = categorised(C.IDENTITY, None)
    gender: Gender = categorised(C.IDENTITY, Gender.NOT_KNOWN)
    shielded: bool = categorised(C.IDENTITY, False)
    address: Address | None = categorised(C.CONTACT, None)
    carers: list[Carer] = categorised(C.CARER, default_factory=list)
    ethnicity: str | None = categorised(C.SENSITIVE, None)


class Practitioner(Canonical):
    practitioner_id: str = categorised(C.INVOLVEMENT)
    name: PersonName = categorised(C.INVOLVEMENT)
    role: str | None = categorised(C.INVOLVEMENT, None)
    agency: str | None = categorised(C.INVOLVEMENT, None)
    team: str | None = categorised(C.INVOLVEMENT, None)
    contact: ContactDetails | None = categorised(C.CONTACT, None)
