"""The fact classes' generated ``__init__`` (``cds.facts._install_fast_init``) behaves as the
frozen dataclass ``__init__`` it replaces."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cds.facts import FACT_CLASSES, Fact


def _distinct_value(field: dataclasses.Field[object], n: int) -> object:
    if field.name == "valuesets":
        return (f"vs-{n}",)
    return f"{field.name}-{n}"


@pytest.mark.parametrize("cls", FACT_CLASSES.values(), ids=list(FACT_CLASSES))
def test_the_generated_init_is_installed(cls: type[Fact]) -> None:
    init = cls.__init__
    assert init.__qualname__ == f"{cls.__qualname__}.__init__"
    # it stores each field through its slot descriptor, bound as s_<field>
    assert {f"s_{f.name}" for f in dataclasses.fields(cls)} <= set(init.__code__.co_names)


@pytest.mark.parametrize("cls", FACT_CLASSES.values(), ids=list(FACT_CLASSES))
def test_every_field_is_stored_and_defaults_apply(cls: type[Fact]) -> None:
    fields = dataclasses.fields(cls)
    given: dict[str, Any] = {f.name: _distinct_value(f, n) for n, f in enumerate(fields)}
    fact = cls(**given)
    assert {f.name: getattr(fact, f.name) for f in fields} == given
    assert fact == cls(**given)
    assert dataclasses.replace(fact, id="other").id == "other"
    minimal = cls(id="x")
    assert {f.name: getattr(minimal, f.name) for f in fields if f.name != "id"} == {
        f.name: f.default for f in fields if f.name != "id"
    }


@pytest.mark.parametrize("cls", FACT_CLASSES.values(), ids=list(FACT_CLASSES))
def test_the_signature_and_immutability_are_the_dataclass_ones(cls: type[Fact]) -> None:
    fact = cls(id="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        fact.id = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cls()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        cls(id="x", no_such_field=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        cls("x")  # type: ignore[call-arg]
