"""Decimal parsing and grid rounding.

Money is ``Decimal`` from wire to disk. Values are parsed from strings (or ints), never from
floats, and the global decimal context is never changed: rounding to a grid uses
``quantize``-free integer division, which is exact at any precision.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

ZERO = Decimal(0)
HUNDRED = Decimal(100)


def to_decimal(value: object, *, what: str = "value") -> Decimal:
    """Parse ``value`` into a finite Decimal. Floats are refused: they are already inexact."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool | float):
        raise TypeError(f"{what} must be a decimal string, not {type(value).__name__}")
    elif isinstance(value, int | str):
        try:
            result = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise ValueError(f"{what} is not a number: {value!r}") from None
    else:
        raise TypeError(f"{what} must be a decimal string, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{what} is not a finite number: {value!r}")
    return result


def floor_to(value: Decimal, grid: Decimal) -> Decimal:
    """Round ``value`` down to a multiple of ``grid`` (``grid`` > 0)."""
    if grid <= 0:
        raise ValueError(f"grid must be positive, got {grid}")
    return (value // grid) * grid


def floor_tick(value: Decimal, tick: Decimal) -> Decimal:
    """Round a price down to the symbol's tick (PRICE_FILTER tickSize)."""
    return floor_to(value, tick)


def floor_step(value: Decimal, step: Decimal) -> Decimal:
    """Round a quantity down to the symbol's step (LOT_SIZE stepSize)."""
    return floor_to(value, step)


def pct(value: Decimal, percent: Decimal) -> Decimal:
    """``percent`` % of ``value``."""
    return value * percent / HUNDRED


def on_grid(value: Decimal, grid: Decimal) -> bool:
    """Whether ``value`` is an exact multiple of ``grid``."""
    return value % grid == 0
