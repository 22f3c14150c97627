"""Every canonical field carries a data category, and the sensitive ones carry the right one."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from hub.canonical import DataCategory, LeadProfessionalChanged, categorised, field_categories
from hub.canonical.casework import CafEpisode, Closure, Involvement, Referral
from hub.canonical.categories import category_of, nested_model
from hub.canonical.events import EVENT_TYPES
from hub.canonical.people import Carer, Child, Practitioner

CANONICAL_ENTITIES = [
    Child, Practitioner, Carer, Involvement, CafEpisode, Referral, Closure, LeadProfessionalChanged,
]


@pytest.mark.parametrize("model", CANONICAL_ENTITIES, ids=lambda model: model.__name__)
def test_every_field_of_canonical_entity_has_a_data_category(model: type[BaseModel]):
    categories = field_categories(model)
    uncategorised = [path for path, category in categories.items() if category is None]
    assert categories, f"{model.__name__} reported no fields"
    assert uncategorised == []


def test_field_categories_reports_an_uncategorised_field_as_none():
    class Sloppy(BaseModel):
        labelled: str = categorised(DataCategory.IDENTITY)
        forgotten: str

    assert field_categories(Sloppy) == {"labelled": DataCategory.IDENTITY, "forgotten": None}


def test_field_categories_descends_into_nested_models_and_lists():
    categories = field_categories(LeadProfessionalChanged)
    assert categories["child.identifiers.nhs_number"] is DataCategory.IDENTITY
    assert categories["child.carers.contact.phone"] is DataCategory.CONTACT
    assert categories["lead_professional.contact.email"] is DataCategory.CONTACT
    assert categories["child.former_names.family"] is DataCategory.IDENTITY


def test_field_categories_covers_every_declared_field():
    categories = field_categories(CafEpisode)
    assert set(CafEpisode.model_fields) <= set(categories)
    assert "assessment.text" in categories
    assert "delivery_plan.action" in categories
    assert "tac_members.name.given" in categories


@pytest.mark.parametrize(
    ("model", "path"),
    [
        (CafEpisode, "assessment"),
        (CafEpisode, "assessment.text"),
        (CafEpisode, "assessment.element"),
        (CafEpisode, "delivery_plan"),
        (CafEpisode, "delivery_plan.need"),
        (CafEpisode, "delivery_plan.action"),
        (CafEpisode, "consent"),
        (CafEpisode, "closure_reason"),
        (Referral, "reason"),
        (Referral, "primary_need"),
        (Closure, "summary"),
        (Closure, "reason_code"),
    ],
)
def test_casework_content_is_case_category(model: type[BaseModel], path: str):
    assert field_categories(model)[path] is DataCategory.CASE


@pytest.mark.parametrize(
    ("model", "path"),
    [
        (Child, "ethnicity"),
        (LeadProfessionalChanged, "child.ethnicity"),
        (Involvement, "sensitive_service"),
    ],
)
def test_special_category_data_is_sensitive(model: type[BaseModel], path: str):
    assert field_categories(model)[path] is DataCategory.SENSITIVE


def test_child_identity_fields_are_identity_and_address_is_contact():
    categories = field_categories(Child)
    for path in ("name", "name.given", "date_of_birth", "gender", "shielded", "identifiers"):
        assert categories[path] is DataCategory.IDENTITY, path
    assert categories["address"] is DataCategory.CONTACT
    assert categories["address.postcode"] is DataCategory.CONTACT
    assert categories["carers"] is DataCategory.CARER


def test_category_of_reads_the_label_on_one_field():
    assert category_of(Child, "ethnicity") is DataCategory.SENSITIVE
    assert category_of(Practitioner, "contact") is DataCategory.CONTACT


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (Child, Child),
        (Practitioner | None, Practitioner),
        (list[Carer], Carer),
        (str, None),
        (list[str], None),
        (int | None, None),
    ],
)
def test_nested_model_finds_the_model_inside_an_annotation(annotation, expected):
    assert nested_model(annotation) is expected


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_field_of_every_canonical_event_has_a_category(event_type):
    missing = [path for path, category in field_categories(EVENT_TYPES[event_type]).items()
               if category is None]

    assert missing == []
