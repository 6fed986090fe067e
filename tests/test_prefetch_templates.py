"""Prefetch templates: tokens, validation and rendering (cds.fhir.templates)."""

from __future__ import annotations

import pytest

from cds.errors import RequestError
from cds.fhir.templates import (
    UserTokenNotApplicableError,
    check_prefetch_template,
    prefetch_template_problems,
    render_prefetch_template,
    template_tokens,
)

CONTEXT: dict[str, object] = {
    "userId": "Practitioner/abc-1",
    "patientId": "123",
    "encounterId": "enc.9",
    "draftOrders": {"resourceType": "Bundle", "entry": []},
}


def test_template_tokens_lists_every_token_once() -> None:
    template = (
        "Observation?patient={{context.patientId}}&s={{ context.patientId }}&u={{userPatientId}}"
    )
    assert template_tokens(template) == {"context.patientId", "userPatientId"}
    assert template_tokens("Patient") == set()


@pytest.mark.parametrize(
    "template",
    [
        "Patient/{{context.patientId}}",
        "Observation?patient={{context.patientId}}&code=http://loinc.org|2191-5",
        "Encounter/{{context.encounterId}}",
        "{{context.userId}}",
        "PractitionerRole?_id={{userPractitionerRoleId}}&_include=PractitionerRole:practitioner",
        "Practitioner/{{userPractitionerId}}",
        "Patient/{{userPatientId}}",
        "RelatedPerson/{{userRelatedPersonId}}",
    ],
)
def test_valid_templates_pass_the_check(template: str) -> None:
    assert prefetch_template_problems(template) == []
    check_prefetch_template(template)


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("MedicationRequest/{{context.medication.id}}", "not allowed"),
        ("Patient/{{patientId}}", "not allowed"),
        ("Patient/{{Patient.id}}", "not allowed"),
        ("Patient/{{userId}}", "not allowed"),
        ("Patient/{{context.}}", "not allowed"),
        ("Patient/{{context.patientId}", "unbalanced"),
        ("http://evil.example/Patient/{{context.patientId}}", "relative"),
        ("/Patient/{{context.patientId}}", "relative"),
        ("   ", "empty"),
    ],
)
def test_invalid_templates_are_refused(template: str, fragment: str) -> None:
    problems = prefetch_template_problems(template)
    assert any(fragment in p for p in problems), problems
    with pytest.raises(ValueError, match=fragment):
        check_prefetch_template(template)


def test_check_reports_every_problem_at_once() -> None:
    problems = prefetch_template_problems("/X?a={{foo}}&b={{context.a.b}}")
    assert len(problems) == 3


def test_check_can_restrict_to_the_hook_context_fields() -> None:
    fields = {"userId", "patientId", "encounterId"}
    check_prefetch_template("Patient/{{context.patientId}}", context_fields=fields)
    with pytest.raises(ValueError, match="this hook does not have"):
        check_prefetch_template("Patient/{{context.orderId}}", context_fields=fields)


def test_renders_context_fields() -> None:
    assert render_prefetch_template("Patient/{{context.patientId}}", CONTEXT) == "Patient/123"
    rendered = render_prefetch_template(
        "Observation?patient={{ context.patientId }}&encounter={{context.encounterId}}", CONTEXT
    )
    assert rendered == "Observation?patient=123&encounter=enc.9"


def test_fixed_text_is_left_untouched() -> None:
    template = "Observation?patient={{context.patientId}}&code=http://loinc.org|2191-5"
    assert render_prefetch_template(template, CONTEXT) == (
        "Observation?patient=123&code=http://loinc.org|2191-5"
    )


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("a/b", "a%2Fb"),
        ("1&_id=2", "1%26_id%3D2"),
        ("x?y#z", "x%3Fy%23z"),
        ("a b", "a%20b"),
        ("é", "%C3%A9"),
        ("..x", "..x"),
        (42, "42"),
        (True, "true"),
        (False, "false"),
    ],
)
def test_values_are_percent_encoded(value: object, rendered: str) -> None:
    context = {**CONTEXT, "patientId": value}
    assert render_prefetch_template("Patient/{{context.patientId}}", context) == (
        f"Patient/{rendered}"
    )


@pytest.mark.parametrize("value", [".", ".."])
def test_dot_segments_are_refused(value: str) -> None:
    with pytest.raises(RequestError) as info:
        render_prefetch_template("Patient/{{context.patientId}}", {**CONTEXT, "patientId": value})
    assert info.value.location == "context.patientId"


@pytest.mark.parametrize(
    ("context", "location"),
    [
        ({"userId": "Practitioner/1"}, "context.patientId"),
        ({"patientId": None}, "context.patientId"),
        ({"patientId": ""}, "context.patientId"),
        ({"patientId": "  "}, "context.patientId"),
        ({"patientId": {"id": "1"}}, "context.patientId"),
        ({"patientId": ["1"]}, "context.patientId"),
    ],
)
def test_unfillable_context_token_raises_request_error(
    context: dict[str, object], location: str
) -> None:
    with pytest.raises(RequestError) as info:
        render_prefetch_template("Patient/{{context.patientId}}", context)
    assert info.value.location == location
    assert not isinstance(info.value, UserTokenNotApplicableError)


def test_non_primitive_field_cannot_be_a_token() -> None:
    with pytest.raises(RequestError) as info:
        render_prefetch_template("Bundle/{{context.draftOrders}}", CONTEXT)
    assert info.value.location == "context.draftOrders"


@pytest.mark.parametrize(
    ("user_id", "token", "expected"),
    [
        ("Practitioner/123", "userPractitionerId", "123"),
        ("PractitionerRole/pr-7", "userPractitionerRoleId", "pr-7"),
        ("Patient/p.1", "userPatientId", "p.1"),
        ("RelatedPerson/rp1", "userRelatedPersonId", "rp1"),
    ],
)
def test_user_tokens_take_the_id_from_user_id(user_id: str, token: str, expected: str) -> None:
    rendered = render_prefetch_template(f"X?_id={{{{{token}}}}}", {"userId": user_id})
    assert rendered == f"X?_id={expected}"


def test_user_token_of_another_resource_type_is_not_applicable() -> None:
    with pytest.raises(UserTokenNotApplicableError) as info:
        render_prefetch_template("Patient/{{userPatientId}}", {"userId": "Practitioner/123"})
    assert info.value.location == "context.userId"
    assert isinstance(info.value, RequestError)


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"userId": "123"},
        {"userId": "Practitioner/"},
        {"userId": "Practitioner/1/2"},
        {"userId": "http://x/Practitioner/1"},
        {"userId": "Practitioner/a b"},
        {"userId": 7},
    ],
)
def test_user_token_needs_a_well_formed_user_id(context: dict[str, object]) -> None:
    with pytest.raises(RequestError) as info:
        render_prefetch_template("Practitioner/{{userPractitionerId}}", context)
    assert info.value.location == "context.userId"
    assert not isinstance(info.value, UserTokenNotApplicableError)


def test_context_user_id_renders_as_a_reference() -> None:
    assert render_prefetch_template("{{context.userId}}", CONTEXT) == "Practitioner/abc-1"
    with pytest.raises(RequestError):
        render_prefetch_template("{{context.userId}}", {"userId": "../../admin"})


def test_render_refuses_a_template_with_a_forbidden_token() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        render_prefetch_template("Patient/{{context.a.b}}", {"a": {"b": "1"}})
