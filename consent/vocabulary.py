"""The consent register's vocabulary: purposes, who gave consent, legal gateways and scopes.

Words only, no storage and no decisions: the register (``consent.register``) and the sharing
policy (``consent.policy``) both speak it, and the API validates requests against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hub.canonical import DataCategory


class ConsentPurpose(StrEnum):
    """What a consent (or a gateway decision) is for. A disclosure needs one that matches."""

    CAF_ASSESSMENT = "caf-assessment"
    TAC_SHARING = "tac-sharing"
    REFERRAL_TO_SOCIAL_CARE = "referral-to-social-care"
    SENSITIVE_SERVICE_ON_DIRECTORY = "sensitive-service-on-directory"
    DIRECTORY_RETENTION_TO_25 = "directory-retention-to-25"


# DOMAIN: these two need the young person's own consent, never a parent's.
CHILD_ONLY_PURPOSES = frozenset({
    ConsentPurpose.SENSITIVE_SERVICE_ON_DIRECTORY, ConsentPurpose.DIRECTORY_RETENTION_TO_25,
})

# What a consent covers when it does not list data categories (a CAF consent statement does not).
DEFAULT_CATEGORIES: dict[ConsentPurpose, frozenset[DataCategory]] = {
    ConsentPurpose.CAF_ASSESSMENT: frozenset({
        DataCategory.IDENTITY, DataCategory.CONTACT, DataCategory.CARER, DataCategory.INVOLVEMENT,
        DataCategory.CASE,
    }),
    ConsentPurpose.TAC_SHARING: frozenset({
        DataCategory.IDENTITY, DataCategory.CONTACT, DataCategory.CARER, DataCategory.INVOLVEMENT,
        DataCategory.CASE,
    }),
    ConsentPurpose.REFERRAL_TO_SOCIAL_CARE: frozenset({
        DataCategory.IDENTITY, DataCategory.CONTACT, DataCategory.CARER, DataCategory.INVOLVEMENT,
        DataCategory.CASE,
    }),
    ConsentPurpose.SENSITIVE_SERVICE_ON_DIRECTORY: frozenset({
        DataCategory.IDENTITY, DataCategory.INVOLVEMENT,
    }),
    ConsentPurpose.DIRECTORY_RETENTION_TO_25: frozenset({
        DataCategory.IDENTITY, DataCategory.CONTACT, DataCategory.CARER, DataCategory.INVOLVEMENT,
    }),
}


class GivenBy(StrEnum):
    """A child with sufficient understanding (Gillick), or any one person with parental responsibility."""

    CHILD = "child"
    PARENT = "parent"


class ConsentMethod(StrEnum):
    WRITTEN = "written"
    VERBAL = "verbal"
    ELECTRONIC = "electronic"
    CAF_CONSENT_STATEMENT = "caf-consent-statement"


class Gateway(StrEnum):
    """Lawful sharing without consent; each needs a decision maker and a reason on record."""

    S47_SIGNIFICANT_HARM = "s47-significant-harm"
    S17_CHILD_IN_NEED = "s17-child-in-need"
    S10_S11_DUTY_TO_COOPERATE = "s10-s11-duty-to-cooperate"
    SAFEGUARDING_CONDITION = "safeguarding-condition"


GATEWAY_LAW: dict[Gateway, str] = {
    Gateway.S47_SIGNIFICANT_HARM:
        "Children Act 1989 s47 (reasonable cause to suspect significant harm)",
    Gateway.S17_CHILD_IN_NEED: "Children Act 1989 s17 (child in need)",
    Gateway.S10_S11_DUTY_TO_COOPERATE:
        "Children Act 2004 s10/s11 (duty to co-operate, safeguard and promote welfare)",
    Gateway.SAFEGUARDING_CONDITION:
        "Data Protection Act 2018 Sch.1 para.18 (safeguarding of children and individuals at risk)",
}

# Which kinds of connected system may record which gateway decision (an operator may record any).
# A s47 enquiry and a s17 assessment are the local authority's: only its case system decides them.
GATEWAY_DECIDERS: dict[Gateway, frozenset[str]] = {
    Gateway.S47_SIGNIFICANT_HARM: frozenset({"case_system"}),
    Gateway.S17_CHILD_IN_NEED: frozenset({"case_system"}),
    Gateway.S10_S11_DUTY_TO_COOPERATE: frozenset({"case_system", "caf_system", "partner"}),
    Gateway.SAFEGUARDING_CONDITION: frozenset({"case_system", "caf_system", "partner"}),
}

# Kinds of connected system that may record and withdraw consent through the API. The directory
# is one-way (DOMAIN): it receives, it never records anything about a child's case.
CONSENT_RECORDERS = frozenset({"caf_system", "case_system", "partner"})


class ScopeType(StrEnum):
    AGENCY = "agency"  # a connected system, by its id or its name
    PRACTITIONER = "practitioner"  # a practitioner id
    ROLE = "role"  # a practitioner's role, e.g. "youth worker"
    KIND = "kind"  # every system of one kind, e.g. "case_system" for children's social care


@dataclass(frozen=True, slots=True)
class ScopeEntry:
    """One "type:value" entry of a consent's or a gateway's scope: to whom sharing may go."""

    type: ScopeType
    value: str

    @classmethod
    def parse(cls, text: str) -> ScopeEntry:
        kind, sep, value = text.partition(":")
        if not sep or not value.strip():
            raise ValueError(f"scope {text!r} must be written type:value (agency, practitioner, role, kind)")
        try:
            scope_type = ScopeType(kind.strip().lower())
        except ValueError:
            raise ValueError(
                f"scope type {kind!r} is not one of {', '.join(t.value for t in ScopeType)}"
            ) from None
        return cls(scope_type, value.strip())

    def __str__(self) -> str:
        return f"{self.type.value}:{self.value}"


def parse_scope(entries: list[str] | tuple[str, ...]) -> tuple[ScopeEntry, ...]:
    return tuple(ScopeEntry.parse(entry) for entry in entries)
