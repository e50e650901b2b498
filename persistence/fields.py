"""Custom peewee fields: exact Decimals and JSON, both stored as TEXT.

peewee's ``DecimalField`` ends up as a REAL in SQLite, so money would lose digits. ``DecimalText``
stores ``str(Decimal)``, which round-trips exactly (value and exponent) at any precision.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from peewee import Field

from core.money import to_decimal


def decimal_to_text(value: Any) -> str:
    """The TEXT form of a finite Decimal (or int/str). Floats are refused: already inexact."""
    return str(to_decimal(value))


class DecimalText(Field):
    """A Decimal stored as TEXT, exactly."""

    field_type = "TEXT"

    def db_value(self, value: Any) -> str | None:
        return None if value is None else decimal_to_text(value)

    def python_value(self, value: Any) -> Decimal | None:
        return None if value is None else Decimal(value)


class JsonText(Field):
    """A JSON document stored as TEXT (compact, keys sorted so equal values store equal)."""

    field_type = "TEXT"

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), sort_keys=True)

    def python_value(self, value: Any) -> Any:
        return None if value is None else json.loads(value)
