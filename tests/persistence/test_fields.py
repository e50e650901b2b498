"""Decimals survive the TEXT columns and the JSON values exactly: value and exponent."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from persistence.db import open_database
from persistence.fields import DecimalText
from persistence.repository import Repository
from tests.persistence.helpers import fill, position

finite = st.decimals(allow_nan=False, allow_infinity=False)
eighteen_places = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=18,
                              allow_nan=False, allow_infinity=False)
money = finite | eighteen_places


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    db = open_database(tmp_path_factory.mktemp("fields") / "fields.db", synchronous="OFF")
    yield Repository(db)
    db.close()


def _same(a: Decimal, b: Decimal) -> bool:
    return a.as_tuple() == b.as_tuple()


@settings(max_examples=150, deadline=None)
@given(price=money, qty=money, fee=money, pnl=money)
def test_fill_decimals_round_trip_exactly_through_text_columns(repo, price, qty, fee, pnl):
    # Arrange
    trade = f"h{len(repo.list_fills(symbol='RTUSDT'))}"
    original = replace(fill(trade, symbol="RTUSDT"), price=price, qty=qty, fee=fee, pnl=pnl)

    # Act
    repo.record_fill(original)
    (stored,) = [f for f in repo.list_fills(symbol="RTUSDT") if f.exchange_trade_id == trade]

    # Assert
    assert stored == original
    assert all(_same(getattr(stored, n), getattr(original, n)) for n in ("price", "qty", "fee",
                                                                        "pnl"))


@settings(max_examples=150, deadline=None)
@given(highest=money, stop=money)
def test_position_decimals_round_trip_exactly_through_json_value(repo, highest, stop):
    # Arrange
    original = position("json").replace(highest=highest, stop=stop)

    # Act
    repo.save_position(original)
    stored = repo.load_position("json")

    # Assert
    assert stored == original
    assert _same(stored.highest, highest) and _same(stored.stop, stop)


def test_eighteen_decimal_places_are_kept_in_the_column_text(repo):
    # Arrange
    value = Decimal("0.000000000000000001")

    # Act
    repo.record_fill(fill("tiny", symbol="TINYUSDT", pnl=value))
    (text,) = repo.db.execute_sql(
        "SELECT pnl FROM trades WHERE symbol = 'TINYUSDT'").fetchone()

    # Assert
    assert Decimal(text) == value and repo.realized_pnl("TINYUSDT") == value


@pytest.mark.parametrize("bad", [0.1, float("nan"), Decimal("NaN"), Decimal("Infinity")],
                         ids=["float", "float-nan", "decimal-nan", "infinity"])
def test_decimal_column_refuses_floats_and_non_finite_values(bad):
    # Arrange
    field = DecimalText()

    # Act / Assert
    with pytest.raises((TypeError, ValueError)):
        field.db_value(bad)
