"""Lean pydantic v2 models of the FHIR R4 elements the facts need, and nothing more.

These models document (and type) the slice of FHIR that :mod:`cds.context.normalise` reads. They
ignore every other element (``extra="ignore"``) and never check cardinalities or invariants: a
resource that would fail full FHIR validation still parses if the elements we read are usable.

They are NOT on the request path. Measured in ``bench/context.py``, validating every resource
with these models alone costs 1.4-2.3x ``json.loads`` of the same body, and the facts would still
have to be built from the models afterwards; the normaliser reads the parsed JSON with small typed
helpers instead (about 1.9-2.4x ``json.loads`` for everything) and keeps these models for tests,
tooling and as the written contract of what is read. ``fhir.resources`` (full R4B
models, ~6.7 ms per patient) is used only in tests, to prove fixtures are valid FHIR.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "Bundle",
    "BundleEntry",
    "CodeableConcept",
    "Coding",
    "Condition",
    "Dosage",
    "Medication",
    "MedicationRequest",
    "MedicationStatement",
    "Observation",
    "Patient",
    "Quantity",
    "QuestionnaireResponse",
    "Reference",
    "Resource",
    "Specimen",
    "parse_resource",
]


class _Lean(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Coding(_Lean):
    system: str | None = None
    code: str | None = None
    display: str | None = None


class CodeableConcept(_Lean):
    coding: list[Coding] = Field(default_factory=list)
    text: str | None = None


class Quantity(_Lean):
    value: float | None = None
    comparator: str | None = None
    unit: str | None = None
    system: str | None = None
    code: str | None = None


class Reference(_Lean):
    reference: str | None = None
    type: str | None = None
    display: str | None = None


class Period(_Lean):
    start: str | None = None
    end: str | None = None


class Extension(_Lean):
    url: str
    value_code: str | None = Field(None, alias="valueCode")


class ReferenceRange(_Lean):
    low: Quantity | None = None
    high: Quantity | None = None
    type: CodeableConcept | None = None
    text: str | None = None


class Patient(_Lean):
    resource_type: Literal["Patient"] = Field(alias="resourceType")
    id: str | None = None
    birth_date: str | None = Field(None, alias="birthDate")
    gender: str | None = None
    extension: list[Extension] = Field(default_factory=list)


class Observation(_Lean):
    resource_type: Literal["Observation"] = Field(alias="resourceType")
    id: str | None = None
    status: str | None = None
    code: CodeableConcept | None = None
    category: list[CodeableConcept] = Field(default_factory=list)
    value_quantity: Quantity | None = Field(None, alias="valueQuantity")
    value_string: str | None = Field(None, alias="valueString")
    value_codeable_concept: CodeableConcept | None = Field(None, alias="valueCodeableConcept")
    value_integer: int | None = Field(None, alias="valueInteger")
    value_boolean: bool | None = Field(None, alias="valueBoolean")
    effective_date_time: str | None = Field(None, alias="effectiveDateTime")
    effective_period: Period | None = Field(None, alias="effectivePeriod")
    issued: str | None = None
    reference_range: list[ReferenceRange] = Field(default_factory=list, alias="referenceRange")
    interpretation: list[CodeableConcept] = Field(default_factory=list)
    specimen: Reference | None = None
    has_member: list[Reference] = Field(default_factory=list, alias="hasMember")
    derived_from: list[Reference] = Field(default_factory=list, alias="derivedFrom")
    contained: list[dict[str, Any]] = Field(default_factory=list)


class Condition(_Lean):
    resource_type: Literal["Condition"] = Field(alias="resourceType")
    id: str | None = None
    clinical_status: CodeableConcept | None = Field(None, alias="clinicalStatus")
    verification_status: CodeableConcept | None = Field(None, alias="verificationStatus")
    code: CodeableConcept | None = None
    onset_date_time: str | None = Field(None, alias="onsetDateTime")
    onset_period: Period | None = Field(None, alias="onsetPeriod")
    recorded_date: str | None = Field(None, alias="recordedDate")
    abatement_date_time: str | None = Field(None, alias="abatementDateTime")
    abatement_period: Period | None = Field(None, alias="abatementPeriod")
    abatement_string: str | None = Field(None, alias="abatementString")


class Repeat(_Lean):
    frequency: float | None = None
    period: float | None = None
    period_unit: str | None = Field(None, alias="periodUnit")


class Timing(_Lean):
    repeat: Repeat | None = None
    code: CodeableConcept | None = None


class DoseAndRate(_Lean):
    dose_quantity: Quantity | None = Field(None, alias="doseQuantity")


class Dosage(_Lean):
    text: str | None = None
    sequence: int | None = None
    timing: Timing | None = None
    route: CodeableConcept | None = None
    dose_and_rate: list[DoseAndRate] = Field(default_factory=list, alias="doseAndRate")


class Duration(_Lean):
    value: float | None = None
    unit: str | None = None
    code: str | None = None


class DispenseRequest(_Lean):
    expected_supply_duration: Duration | None = Field(None, alias="expectedSupplyDuration")
    quantity: Quantity | None = None


class Ratio(_Lean):
    numerator: Quantity | None = None
    denominator: Quantity | None = None


class Ingredient(_Lean):
    item_codeable_concept: CodeableConcept | None = Field(None, alias="itemCodeableConcept")
    strength: Ratio | None = None


class Medication(_Lean):
    resource_type: Literal["Medication"] = Field(alias="resourceType")
    id: str | None = None
    code: CodeableConcept | None = None
    ingredient: list[Ingredient] = Field(default_factory=list)


class MedicationRequest(_Lean):
    resource_type: Literal["MedicationRequest"] = Field(alias="resourceType")
    id: str | None = None
    status: str | None = None
    intent: str | None = None
    medication_codeable_concept: CodeableConcept | None = Field(
        None, alias="medicationCodeableConcept"
    )
    medication_reference: Reference | None = Field(None, alias="medicationReference")
    authored_on: str | None = Field(None, alias="authoredOn")
    dosage_instruction: list[Dosage] = Field(default_factory=list, alias="dosageInstruction")
    dispense_request: DispenseRequest | None = Field(None, alias="dispenseRequest")
    contained: list[dict[str, Any]] = Field(default_factory=list)


class MedicationStatement(_Lean):
    resource_type: Literal["MedicationStatement"] = Field(alias="resourceType")
    id: str | None = None
    status: str | None = None
    medication_codeable_concept: CodeableConcept | None = Field(
        None, alias="medicationCodeableConcept"
    )
    medication_reference: Reference | None = Field(None, alias="medicationReference")
    effective_date_time: str | None = Field(None, alias="effectiveDateTime")
    effective_period: Period | None = Field(None, alias="effectivePeriod")
    date_asserted: str | None = Field(None, alias="dateAsserted")
    information_source: Reference | None = Field(None, alias="informationSource")
    based_on: list[Reference] = Field(default_factory=list, alias="basedOn")
    derived_from: list[Reference] = Field(default_factory=list, alias="derivedFrom")
    dosage: list[Dosage] = Field(default_factory=list)
    contained: list[dict[str, Any]] = Field(default_factory=list)


class Specimen(_Lean):
    resource_type: Literal["Specimen"] = Field(alias="resourceType")
    id: str | None = None
    type: CodeableConcept | None = None


class Answer(_Lean):
    value_coding: Coding | None = Field(None, alias="valueCoding")
    value_integer: int | None = Field(None, alias="valueInteger")
    value_decimal: float | None = Field(None, alias="valueDecimal")


class QuestionnaireItem(_Lean):
    link_id: str | None = Field(None, alias="linkId")
    code: list[Coding] = Field(default_factory=list)
    answer: list[Answer] = Field(default_factory=list)
    item: list[QuestionnaireItem] = Field(default_factory=list)


class QuestionnaireResponse(_Lean):
    resource_type: Literal["QuestionnaireResponse"] = Field(alias="resourceType")
    id: str | None = None
    status: str | None = None
    authored: str | None = None
    item: list[QuestionnaireItem] = Field(default_factory=list)


class Other(_Lean):
    """Any resource type the facts do not read (kept only as its type and id)."""

    resource_type: str = Field(alias="resourceType")
    id: str | None = None


Resource = Annotated[
    Patient
    | Observation
    | Condition
    | MedicationRequest
    | MedicationStatement
    | Medication
    | Specimen
    | QuestionnaireResponse,
    Field(discriminator="resource_type"),
]


class BundleEntry(_Lean):
    resource: dict[str, Any] | None = None


class Bundle(_Lean):
    resource_type: Literal["Bundle"] = Field(alias="resourceType")
    type: str | None = None
    entry: list[BundleEntry] = Field(default_factory=list)


_KNOWN = frozenset(
    {
        "Patient",
        "Observation",
        "Condition",
        "MedicationRequest",
        "MedicationStatement",
        "Medication",
        "Specimen",
        "QuestionnaireResponse",
    }
)
_RESOURCE: TypeAdapter[Any] = TypeAdapter(Resource)
_OTHER: TypeAdapter[Other] = TypeAdapter(Other)


def parse_resource(data: dict[str, Any]) -> BaseModel:
    """Validate one resource with the lean model of its type (``Other`` for the rest)."""
    if data.get("resourceType") in _KNOWN:
        model: BaseModel = _RESOURCE.validate_python(data)
        return model
    return _OTHER.validate_python(data)
