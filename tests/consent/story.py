"""Hannah's story (DOMAIN.md) as canonical data: Hannah, her mother, her TAC and her CAF episode."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hub.canonical import Envelope, Purpose
from hub.canonical.casework import (
    AssessmentArea,
    AssessmentElement,
    CafEpisode,
    ConsentStatement,
    PlanAction,
    Referral,
)
from hub.canonical.events import CafEpisodeRecorded, LeadProfessionalChanged, ReferralToSocialCare
from hub.canonical.people import (
    Address,
    Carer,
    Child,
    ChildIdentifiers,
    ContactDetails,
    Gender,
    PersonName,
    Practitioner,
)

NHS_NUMBER = "9434765919"
CAF_CHILD_ID = "CAF-C-0042"
EPISODE = "EP-2031"
ASSESSMENT_TEXT = "Hannah cares for her mother and three siblings; rent arrears worry her"


def hannah(**overrides: object) -> Child:
    values: dict[str, object] = dict(
        identifiers=ChildIdentifiers(caf_child_id=CAF_CHILD_ID, nhs_number=NHS_NUMBER,
                                     directory_id="DIR-7781"),
        name=PersonName(given="Hannah", family="Example"), date_of_birth=date(2011, 3, 14),
        gender=Gender.FEMALE, address=Address(lines=["1 Example Road"], postcode="NF1 1AA"),
        carers=[Carer(name=PersonName(given="Jo", family="Example"), relationship="mother",
                      parental_responsibility=True, contact=ContactDetails(phone="01632 960999"))],
        ethnicity="WBRI",
    )
    values.update(overrides)
    return Child(**values)  # type: ignore[arg-type]


def practitioner(pid: str, given: str, family: str, role: str, agency: str) -> Practitioner:
    return Practitioner(practitioner_id=pid, name=PersonName(given=given, family=family), role=role,
                        agency=agency, contact=ContactDetails(phone="01632 960001"))


MELANIE = practitioner("P-MEL-01", "Melanie", "Mentor", "Learning mentor", "Northfield School")
LEE = practitioner("P-LEE-01", "Lee", "Youth", "Youth worker", "Northfield Youth Service")
LIBBY = practitioner("P-LIB-01", "Libby", "Carers", "Young carers worker", "Young Carers Group")
STEVE = practitioner("P-STE-01", "Steve", "Housing", "Housing officer", "Northfield Housing")
SOCIAL_WORKER = practitioner("P-SW-07", "John", "Social", "Social worker", "Children's social care")


def statement(purposes: list[str], agencies: list[str] | None = None, given_by: str = "child",
              competence: str | None = "Hannah understands what sharing means (Melanie, 2024-05-01)",
              ) -> ConsentStatement:
    return ConsentStatement(given_by=given_by, competence_judgement=competence, purposes=purposes,
                            agencies=agencies or [], given_at=datetime(2024, 5, 1, 9, 0, tzinfo=UTC))


def episode(version: int, consent: ConsentStatement | None = None, child: Child | None = None) -> Envelope:
    moment = datetime(2024, 5, 1, 10, version, tzinfo=UTC)
    event = CafEpisodeRecorded(
        child=child or hannah(),
        episode=CafEpisode(
            episode_id=EPISODE, version=version, lead_professional=MELANIE,
            tac_members=[MELANIE, LEE, LIBBY, STEVE],
            assessment=[AssessmentElement(area=AssessmentArea.DEVELOPMENT, element="self-care skills",
                                          text=ASSESSMENT_TEXT)],
            delivery_plan=[PlanAction(need="respite", action="Young carers group on Thursdays")],
            consent=consent or statement(["caf-assessment"]),
        ),
        recorded_by=MELANIE, recorded_at=moment,
    )
    return Envelope(
        correlation_id=f"corr-{EPISODE}", source_system="caf-national",
        source_message_id=f"caf-episode-{EPISODE}-v{version}", message_type="caf-episode-recorded",
        message_version="1", occurred_at=moment, purpose=Purpose.TAC_SHARING, payload=event,
    )


def referral(number: int) -> Envelope:
    moment = datetime(2024, 6, 3, 9, number, tzinfo=UTC)
    event = ReferralToSocialCare(
        child=hannah(),
        episode=CafEpisode(episode_id=EPISODE, version=5, lead_professional=MELANIE,
                           assessment=[AssessmentElement(area=AssessmentArea.PARENTS_AND_CARERS,
                                                         element="basic care", text=ASSESSMENT_TEXT)]),
        referral=Referral(referral_id=f"REF-{number}", source="5D", reason="Young carer under strain",
                          primary_need="N3", referrer=LEE, referred_at=moment),
    )
    return Envelope(
        correlation_id="corr-referral", source_system="caf-national",
        source_message_id=f"caf-referral-{number}", message_type="referral-to-social-care",
        message_version="1", occurred_at=moment, purpose=Purpose.REFERRAL_TO_SOCIAL_CARE, payload=event,
    )


def lead_professional(child: Child | None = None) -> Envelope:
    moment = datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    event = LeadProfessionalChanged(child=child or hannah(), episode_id=EPISODE, episode_version=3,
                                    lead_professional=MELANIE, agreed_at=moment)
    return Envelope(
        correlation_id=f"corr-{EPISODE}", source_system="caf-national",
        source_message_id=f"caf-lead-{EPISODE}-v3", message_type="lead-professional-changed",
        message_version="1", occurred_at=moment, purpose=Purpose.DIRECTORY_UPDATE, payload=event,
    )
