"""Validation at the door of a handler: a payload checked against its model before the handler runs.

A route may declare what its payload must be: a pydantic model (or any type
pydantic validates, through Powertools' parser) or a JSON Schema. The
processor validates the body first and hands the handler the result; a body
that does not match raises ``PayloadValidationError``, a ``PermanentError``,
so the message goes to the dead-letter queue at once: the same bytes would
fail every retry.

The error's text is what reaches the DLQ's ``failure_reason`` and the log, so
it holds field paths and error kinds only, never a value from the payload:
pydantic's and Powertools' own messages can quote the input, so neither is
used. A path segment that is not a field name of the model or schema (a key
of a free-form object, which the sender chose) is written ``*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from shared.event import PermanentError, WebhookEvent

if TYPE_CHECKING:
    from pydantic import ValidationError

# At most this many errors are named in one reason; the rest are counted.
MAX_ERRORS_NAMED = 5


class PayloadValidationError(PermanentError):
    """The payload does not match the route's model or schema; the text names field paths only."""


def _property_names(schema: Any) -> set[str]:
    """Every property name a JSON Schema document defines, at any depth (incl. $defs)."""
    names: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            properties = node.get("properties")
            if isinstance(properties, Mapping):
                names.update(str(name) for name in properties)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


def _path(segments: Iterable[Any], known: set[str]) -> str:
    parts: list[str] = []
    for segment in segments:
        if isinstance(segment, int) and not isinstance(segment, bool):
            parts.append(f"[{segment}]")
        else:
            name = str(segment) if str(segment) in known else "*"
            parts.append(("." if parts else "") + name)
    return "".join(parts) or "(body)"


def _reason(event: WebhookEvent, expected: str, problems: list[str], total: int) -> str:
    named = "; ".join(problems[:MAX_ERRORS_NAMED])
    more = f" (and {total - MAX_ERRORS_NAMED} more)" if total > MAX_ERRORS_NAMED else ""
    return f"payload of {event.source} delivery {event.delivery_id} does not match {expected}: {named}{more}"


class ModelValidator:
    """Validates the JSON body into ``model`` (a pydantic model, dataclass, TypedDict...) with Powertools' parser."""

    def __init__(self, model: Any) -> None:
        # Imported here: pydantic costs cold-start time only for processors whose routes declare a model.
        from aws_lambda_powertools.utilities.parser import parse
        from pydantic import TypeAdapter

        self.model = model
        self._parse = parse
        self._adapter = TypeAdapter  # the class: the model's schema is built on the first refusal only
        self.name = getattr(model, "__name__", None) or repr(model)
        self._known_names: set[str] | None = None

    def __call__(self, event: WebhookEvent) -> Any:
        from pydantic import ValidationError

        document = event.json()  # InvalidJsonError, a PermanentError, for a body that is not JSON
        try:
            # The parsed document, shared with whatever else read it (the API version, the handler).
            return self._parse(event=document, model=self.model)
        except ValidationError as error:
            raise PayloadValidationError(self._describe(event, error)) from None

    @property
    def _known(self) -> set[str]:
        """The model's field names, by alias as validation reports locations; built once, when first needed."""
        if self._known_names is None:
            try:
                self._known_names = _property_names(self._adapter(self.model).json_schema(by_alias=True))
            except Exception:  # a model with no JSON Schema (a field of an arbitrary type): its paths are all *
                self._known_names = set()
        return self._known_names

    def _describe(self, event: WebhookEvent, error: ValidationError) -> str:
        details = error.errors(include_url=False, include_context=False, include_input=False)
        problems = [f"{_path(detail['loc'], self._known)}: {detail['type']}" for detail in details]
        return _reason(event, self.name, problems, len(details))


class SchemaValidator:
    """Validates the JSON body against a JSON Schema, compiled once with fastjsonschema.

    Powertools' ``validate()`` runs the same engine, but compiles the schema on
    every call and puts the failing value in its exception's message, so the
    schema is compiled here, at import, and only the path and rule are kept.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        import fastjsonschema

        self.name = str(schema.get("title") or "its JSON Schema")
        self._known = _property_names(schema)
        try:
            self._validate = fastjsonschema.compile(dict(schema))
        except fastjsonschema.JsonSchemaDefinitionException as error:
            raise ValueError(f"schema is not a usable JSON Schema: {error}") from None
        self._error = fastjsonschema.JsonSchemaValueException

    def __call__(self, event: WebhookEvent) -> Any:
        document = event.json()  # InvalidJsonError, a PermanentError, for a body that is not JSON
        try:
            return self._validate(document)
        except self._error as error:
            # path starts with "data", fastjsonschema's name for the document itself.
            where = _path((error.path or ["data"])[1:], self._known)
            problem = f"{where}: {error.rule}"
            if error.rule == "required" and isinstance(error.rule_definition, list):
                # The schema's list, not the payload's keys: which fields a body of this kind must have.
                problem += " " + ", ".join(str(name) for name in error.rule_definition)
            raise PayloadValidationError(_reason(event, self.name, [problem], 1)) from None
