"""Decimals survive the TEXT columns and the JSON values exactly: value and exponent."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.types import OrderState
from persistence.db import open_database
from persistence.fields import DecimalText, JsonText, row_json
from persistence.repository import Repository
from tests.persistence.helpers import fill, order, position

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


# --- row_json: the stored value text, built in one pass ------------------------------------

texts = st.none() | st.text(max_size=12)  # quotes, backslashes, control and non-ASCII chars


@settings(max_examples=200, deadline=None)
@given(highest=money, stop=st.none() | money, entry_time=texts, exit_reason=texts,
       seq=st.integers(min_value=-2**70, max_value=2**70), halted=st.booleans())
def test_row_json_writes_the_same_text_as_the_general_encoder(highest, stop, entry_time,
                                                               exit_reason, seq, halted):
    # Arrange
    p = replace(position("p\u00e9-\"1\""), highest=highest, stop=stop, entry_time=entry_time,
                exit_reason=exit_reason, seq=seq, halted=halted)

    # Act
    fast, general = row_json(p), JsonText().db_value(p.to_json())

    # Assert
    assert fast == general


def test_row_json_of_an_order_is_the_general_encoders_text():
    # Arrange
    o = order("rt-p1-2", state=OrderState.CANCELED)

    # Act / Assert
    assert row_json(o) == JsonText().db_value(o.to_json())


@dataclass(frozen=True)
class _Odd:
    name: str
    tags: tuple[str, ...]

    def to_json(self) -> dict:
        return {"name": self.name, "tags": list(self.tags)}


def test_row_json_falls_back_for_a_field_of_another_type():
    # Arrange
    odd = _Odd(name="x", tags=("a", "b"))

    # Act / Assert
    assert row_json(odd) == '{"name":"x","tags":["a","b"]}'
