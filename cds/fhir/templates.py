"""CDS Hooks 2.0 prefetch templates: which tokens they may hold and how they are filled.

A prefetch template is a relative FHIR query such as ``Observation?patient={{context.patientId}}``.
CDS Hooks 2.0 allows exactly two kinds of token:

- ``{{context.X}}`` where ``X`` is a root-level context field with a primitive value (string,
  number, boolean); ``{{context.medication.id}}`` is not a valid token;
- the four user tokens ``{{userPractitionerId}}``, ``{{userPractitionerRoleId}}``,
  ``{{userPatientId}}`` and ``{{userRelatedPersonId}}``, each the FHIR id taken from
  ``context.userId`` when that reference has the matching resource type
  (``"Practitioner/123"`` gives ``userPractitionerId`` = ``"123"``).

Decisions (the spec is silent on them):

- Whitespace inside the braces is tolerated (``{{ context.patientId }}``).
- A user token whose resource type does not match ``context.userId`` (``{{userPatientId}}`` while
  the user is ``Practitioner/123``) cannot be filled: there is no such user resource. It raises
  :class:`UserTokenNotApplicableError`, a :class:`~cds.errors.RequestError` subclass, so a caller
  may choose to treat that prefetch key as "no such data" (like a ``null`` prefetch value) rather
  than as a malformed request. It is never rendered as an empty id, which would turn a read into a
  search of every resource of the type.
- Values are percent-encoded with no safe characters (``/``, ``?``, ``&``, ``#``, ``|`` … are all
  escaped), so a context value can never add a path segment or a query parameter. The one exception
  is ``{{context.userId}}``, which the spec uses as a whole relative reference
  (``"user": "{{context.userId}}"``): it must look like ``Type/id`` and keeps its one ``/``.
- Values ``"."`` and ``".."`` are refused (they would be dot-segments in a path), and so are empty
  strings (the CDS Hooks JSON rule forbids them).
- Booleans render as JSON does (``true``/``false``), other numbers with ``str()``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Final
from urllib.parse import quote

from cds.errors import RequestError

__all__ = [
    "USER_TOKENS",
    "UserTokenNotApplicableError",
    "check_prefetch_template",
    "prefetch_template_problems",
    "render_prefetch_template",
    "template_tokens",
]

#: User tokens and the resource type of ``context.userId`` each one requires.
USER_TOKENS: Final[Mapping[str, str]] = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}

_TOKEN_RE: Final = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_CONTEXT_TOKEN_RE: Final = re.compile(r"context\.([A-Za-z_][A-Za-z0-9_]*)")
# FHIR R4: resource types are capitalised names, ids are [A-Za-z0-9\-\.]{1,64}.
_REFERENCE_RE: Final = re.compile(r"([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})")


class UserTokenNotApplicableError(RequestError):
    """A user token does not apply to this user (``{{userPatientId}}`` for a Practitioner).

    The request itself is valid; the user simply has no resource of that type. Callers usually
    treat the prefetch key as "no such data" instead of answering 400.
    """


def template_tokens(template: str) -> set[str]:
    """Return the tokens of ``template`` with braces and surrounding whitespace removed.

    >>> sorted(template_tokens("Observation?patient={{context.patientId}}&u={{ userPatientId }}"))
    ['context.patientId', 'userPatientId']
    """
    return {match.group(1) for match in _TOKEN_RE.finditer(template)}


def prefetch_template_problems(
    template: str, *, context_fields: Collection[str] | None = None
) -> list[str]:
    """Every reason ``template`` is not a valid CDS Hooks 2.0 prefetch template (empty if valid).

    ``context_fields``, when given, lists the context fields the hook defines (for example
    ``{"userId", "patientId", "encounterId"}`` for patient-view); ``{{context.X}}`` for any other
    field is then a problem too. Use at start-up to validate our own service definitions.
    """
    problems: list[str] = []
    if not template.strip():
        problems.append("the template is empty")
    path = template.split("?", 1)[0]
    if ":" in path or template.startswith("/"):
        problems.append("the template must be a query relative to the FHIR base URL")
    remainder = _TOKEN_RE.sub("", template)
    if "{{" in remainder or "}}" in remainder:
        problems.append("unbalanced '{{' or '}}'")
    for token in sorted(template_tokens(template)):
        if token in USER_TOKENS:
            continue
        match = _CONTEXT_TOKEN_RE.fullmatch(token)
        if match is None:
            problems.append(
                f"token {{{{{token}}}}} is not allowed: only {{{{context.<field>}}}} for a "
                f"root-level context field, or one of {', '.join(sorted(USER_TOKENS))}"
            )
        elif context_fields is not None and match.group(1) not in context_fields:
            problems.append(f"token {{{{{token}}}}} names a context field this hook does not have")
    return problems


def check_prefetch_template(
    template: str, *, context_fields: Collection[str] | None = None
) -> None:
    """Raise :class:`ValueError` listing every problem of ``template`` (a programmer error)."""
    problems = prefetch_template_problems(template, context_fields=context_fields)
    if problems:
        raise ValueError(f"invalid prefetch template {template!r}: " + "; ".join(problems))


def render_prefetch_template(template: str, context: Mapping[str, object]) -> str:
    """Fill the tokens of ``template`` from the hook ``context``; values are percent-encoded.

    Raises :class:`ValueError` when the template itself is invalid (our bug, see
    :func:`check_prefetch_template`), :class:`~cds.errors.RequestError` with
    ``location="context.<field>"`` when the context cannot fill a token (field missing, not a
    primitive, empty, or ``userId`` malformed), and :class:`UserTokenNotApplicableError` when a
    user token does not match the type of ``context.userId``.
    """
    check_prefetch_template(template)

    def fill(match: re.Match[str]) -> str:
        token = match.group(1)
        if token in USER_TOKENS:
            return _user_token_value(token, context)
        field = token.removeprefix("context.")
        if field == "userId":
            resource_type, resource_id = _user_reference(context)
            return f"{resource_type}/{resource_id}"
        return _encode(_primitive(field, context))

    return _TOKEN_RE.sub(fill, template)


def _primitive(field: str, context: Mapping[str, object]) -> str:
    location = f"context.{field}"
    if field not in context or context[field] is None:
        raise RequestError(f"the prefetch template needs {location}, which is missing", location)
    value = context[field]
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str | int | float):
        text = str(value)
    else:
        raise RequestError(
            f"{location} is not a primitive value and cannot fill a prefetch token", location
        )
    if not text.strip():
        raise RequestError(f"{location} is empty", location)
    if text in {".", ".."}:
        raise RequestError(f"{location} is not a usable value", location)
    return text


def _user_reference(context: Mapping[str, object]) -> tuple[str, str]:
    text = _primitive("userId", context)
    match = _REFERENCE_RE.fullmatch(text)
    if match is None:
        raise RequestError(
            "context.userId must be a relative reference such as 'Practitioner/123'",
            "context.userId",
        )
    return match.group(1), match.group(2)


def _user_token_value(token: str, context: Mapping[str, object]) -> str:
    resource_type, resource_id = _user_reference(context)
    wanted = USER_TOKENS[token]
    if resource_type != wanted:
        raise UserTokenNotApplicableError(
            f"{{{{{token}}}}} needs a {wanted} user but context.userId is a {resource_type}",
            "context.userId",
        )
    return _encode(resource_id)


def _encode(value: str) -> str:
    return quote(value, safe="")
