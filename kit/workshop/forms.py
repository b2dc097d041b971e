"""Form parsing: what the workshop's forms offer and how a value typed into them is read.

The allowed values of an asset field come from the schema through the condition language's
own reading of it (`kit.threats.conditions`), so a form never offers, and a rule never tests,
a value the other does not know. A typed value is checked here, before the session touches
the system file, so a typo is answered at once with the nearest allowed value.
"""

from __future__ import annotations

import re
import typing

from kit.errors import did_you_mean, fail
from kit.model.schema import ControlUse, Decision
from kit.threats.conditions import ASSET_ATTRIBUTES, LIST_ATTRIBUTES, allowed_values

CONTROL_STATUSES: tuple[str, ...] = typing.get_args(ControlUse.model_fields["status"].annotation)
DECISION_STATUSES: tuple[str, ...] = typing.get_args(Decision.model_fields["status"].annotation)
# Asset fields the attribute editor offers: everything but the id and the nested mappings.
EDITABLE_FIELDS = tuple(
    name for name in ASSET_ATTRIBUTES if name not in ("provenance", "due_diligence")
)


def field_choices(name: str) -> list[str]:
    """The allowed values of an asset field as the form shows them ([] when free text)."""
    if name not in ASSET_ATTRIBUTES:
        return []
    return [format_value(v) for v in allowed_values(name) or () if v is not None]


def field_shape(name: str) -> str:
    """'list', 'bool', 'int' or 'text': how a typed-in value of an asset field is read."""
    if name in LIST_ATTRIBUTES:
        return "list"
    pending = [ASSET_ATTRIBUTES[name].annotation]
    while pending:
        annotation = pending.pop(0)
        if annotation is bool:
            return "bool"
        if annotation is int:
            return "int"
        if typing.get_origin(annotation) is not typing.Literal:
            pending.extend(typing.get_args(annotation))
    return "text"


def parse_value(name: str, text: str):
    """A value typed into the attribute editor as the field's data; None means "back to default".

    Lists are comma-separated; true/false and whole numbers are read as such; a field with a
    fixed set of values takes one of them. Raises InputError for an unknown field or a value of
    the wrong shape, naming the nearest allowed value.
    """
    if name not in ASSET_ATTRIBUTES:
        raise fail(
            "attribute",
            None,
            name,
            f"not an editable asset field{did_you_mean(name, EDITABLE_FIELDS)}",
        )
    text = (text or "").strip()
    if not text:
        return None
    shape = field_shape(name)
    if shape == "list":
        return [part.strip() for part in text.split(",") if part.strip()]
    if shape == "bool":
        lowered = text.lower()
        if lowered == "unknown":  # an unrecorded fact is its own value, never "no"
            return None
        if lowered not in ("true", "false", "yes", "no"):
            raise fail("attribute", None, name, f"expected true, false or unknown, got {text!r}")
        return lowered in ("true", "yes")
    if shape == "int":
        if not re.fullmatch(r"-?\d+", text):
            raise fail("attribute", None, name, f"expected a whole number, got {text!r}")
        return int(text)
    figure = re.fullmatch(r"(\d+)\s*(?:/|per)\s*(second|minute|hour|day)", text)
    if name == "rate_limit" and figure:  # a known figure: "100/minute", "5000 per day"
        return {"requests": int(figure[1]), "per": figure[2]}
    choices = field_choices(name)
    if name == "rate_limit":
        choices = [*choices, "N/second", "N/minute", "N/hour", "N/day"]
    if choices and text not in choices:
        raise fail(
            "attribute",
            None,
            name,
            f"'{text}' is not one of {', '.join(choices)}{did_you_mean(text, choices)}",
        )
    return text


def format_value(value) -> str:
    """The text the attribute editor shows for a stored value (inverse of `parse_value`)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "model_dump"):  # a rate limit's figure, as the model holds it
        value = value.model_dump()
    if isinstance(value, dict) and {"requests", "per"} <= set(value):  # as parse_value gives it
        return f"{value['requests']}/{value['per']}"
    return str(value)
