"""Base classes: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Wire(BaseModel):
    """An object that crosses the wire (results, events, stored objects).

    Unknown fields are ignored on input so old clients survive additions;
    output always uses the camelCase names.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        json_schema_serialization_defaults_required=True,
    )


class Params(Wire):
    """Method params: unknown fields and loose types (`true` for a number, "3" for an
    integer) are client bugs, so they are refused (-32602) rather than guessed at."""

    model_config = ConfigDict(extra="forbid", strict=True)
