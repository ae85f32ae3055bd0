"""A delivery that cannot be read: the webhook answers 400 naming the field."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class InvalidDelivery(ValueError):
    """A malformed webhook body; `field` is a dotted path into it (e.g. `entry.0.changes.0.value.metadata`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def from_validation_error(error: ValidationError) -> InvalidDelivery:
    """The first problem pydantic found, as an InvalidDelivery naming its field."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    return InvalidDelivery(field, str(first["msg"]))


def parse_json(raw_body: bytes) -> Any:
    """The JSON document in `raw_body`, or InvalidDelivery("body", ...)."""
    try:
        return json.loads(raw_body or b"null")
    except ValueError as error:
        raise InvalidDelivery("body", f"is not valid JSON ({error})") from None


def validate(model: type[ModelT], data: Any) -> ModelT:
    """`model` validated from `data`, or InvalidDelivery naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise from_validation_error(error) from None
