"""Readers of Binance JSON fields: a decimal string straight into ``Decimal`` (a float where
Binance sends a decimal string is refused with ``MalformedResponse``), ints, text, flags."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.money import to_decimal
from exchange.binance.errors import MalformedResponse


def _need(raw: Any, key: str) -> Any:
    if not isinstance(raw, dict):
        raise MalformedResponse(f"binance: expected an object with {key!r}, got {type(raw).__name__}")
    if key not in raw:
        raise MalformedResponse(f"binance: response lacks {key!r}")
    return raw[key]


def dec(raw: Any, key: str) -> Decimal:
    """A decimal string field. Floats are refused: they are already inexact."""
    value = _need(raw, key)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise MalformedResponse(
            f"binance: {key!r} must be a decimal string, got {type(value).__name__}"
        )
    try:
        return to_decimal(value, what=key)
    except (TypeError, ValueError) as exc:
        raise MalformedResponse(f"binance: {exc}") from None


def opt_dec(raw: Any, key: str) -> Decimal | None:
    return dec(raw, key) if isinstance(raw, dict) and raw.get(key) is not None else None


def integer(raw: Any, key: str) -> int:
    value = _need(raw, key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedResponse(f"binance: {key!r} must be an integer, got {type(value).__name__}")
    return value


def opt_int(raw: Any, key: str) -> int | None:
    return integer(raw, key) if isinstance(raw, dict) and raw.get(key) is not None else None


def text(raw: Any, key: str) -> str:
    value = _need(raw, key)
    if not isinstance(value, str):
        raise MalformedResponse(f"binance: {key!r} must be a string, got {type(value).__name__}")
    return value


def opt_text(raw: Any, key: str) -> str | None:
    return text(raw, key) if isinstance(raw, dict) and raw.get(key) is not None else None


def flag(raw: Any, key: str, default: bool = False) -> bool:
    value = raw.get(key, default) if isinstance(raw, dict) else default
    if not isinstance(value, bool):
        raise MalformedResponse(f"binance: {key!r} must be a boolean, got {type(value).__name__}")
    return value


def items(raw: Any, key: str | None = None) -> list[Any]:
    value = raw if key is None else _need(raw, key)
    if not isinstance(value, list):
        raise MalformedResponse(f"binance: expected a list for {key or 'the body'!r}")
    return value
