"""Hannah's story (DOMAIN.md) as data for the demo and the tests: the child, her lead professional."""

from __future__ import annotations

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
