"""Hannah's story (DOMAIN.md) as data for the demo and the tests: the child, her lead professional,
Lee her youth worker, John her social worker, and how social care closes her case."""

from __future__ import annotations

from datetime import date

from hub.canonical.casework import Closure
from hub.canonical.events import CaseClosed
from hub.canonical.people import Child, ChildIdentifiers, Gender, PersonName, Practitioner
from simulators.caf_system import ChildSpec, PractitionerSpec, lead_professional_changed

HANNAH = ChildSpec(
    caf_child_id="CAF-C-0042", given="Hannah", family="Example", date_of_birth="2011-03-14",
    gender="2", nhs_number="9434765919", directory_id="DIR-7781",
)
MELANIE = PractitionerSpec(
    practitioner_id="P-MEL-01", given="Melanie", family="Mentor", role="Learning mentor",
    agency="Northfield School", phone="01632 960001", email="melanie@northfield.example",
)
EPISODE = "EP-2031"


def melanie_agreed(message_id: str = "caf-msg-0001", version: int = 3) -> bytes:
    return lead_professional_changed(HANNAH, MELANIE, EPISODE, version, message_id=message_id)


LEE = PractitionerSpec(
    practitioner_id="P-LEE-02", given="Lee", family="Walker", role="Youth worker",
    agency="Northfield Youth Service", phone="01632 960002", email="lee.walker@youth.northfield.example",
)
# Hannah and her social worker as the case system records them.
HANNAH_IN_SOCIAL_CARE = Child(
    identifiers=ChildIdentifiers(nhs_number="9434765919", la_child_id="7005501"),
    name=PersonName(given="Hannah", family="Example"), date_of_birth=date(2011, 3, 14),
    gender=Gender.FEMALE,
)
JOHN = Practitioner(practitioner_id="SW-JOHN", name=PersonName(given="John", family="Carter"),
                    role="Social worker", agency="Children's social care", team="Assessment team")
CLOSURE_SUMMARY = ("Young carer's assessment completed and a care package is in place for her mother. "
                   "Hannah still needs support with school attendance, and the family with the rent "
                   "arrears.")


def case_closed(closed_on: date, reason: str = "RC9", outstanding_needs: bool = True) -> CaseClosed:
    """Social care closes Hannah's case: by default after assessment, referred to early help."""
    return CaseClosed(
        child=HANNAH_IN_SOCIAL_CARE, case_id="CASE-8841", social_worker=JOHN,
        closure=Closure(reason_code=reason, closed_on=closed_on, outstanding_needs=outstanding_needs,
                        summary=CLOSURE_SUMMARY if outstanding_needs else None),
    )
