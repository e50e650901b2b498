"""The repository API on a real SQLite file."""

from __future__ import annotations

from decimal import Decimal

import pytest
from peewee import IntegrityError

from core.types import OrderState, PositionState
from persistence.db import open_database
from persistence.repository import Repository
from persistence.unit import Persist, collapse_units
from tests.persistence.helpers import REFUSE_POISON, fill, order, position


@pytest.fixture
def repo(tmp_path):
    db = open_database(tmp_path / "repo.db")
    yield Repository(db)
    db.close()


def test_saved_position_loads_equal_and_unknown_id_is_none(repo):
    # Arrange
    saved = position("p1", seq=3)

    # Act
    repo.save_position(saved)

    # Assert
    assert repo.load_position("p1") == saved
    assert repo.load_position("nope") is None


def test_list_positions_filters_by_symbol_and_open_means_not_flat(repo):
    # Arrange
    repo.save_position(position("a", symbol="BTCUSDT"))
    repo.save_position(position("b", symbol="ETHUSDT", state=PositionState.EXITING))
    repo.save_position(position("c", symbol="BTCUSDT", state=PositionState.FLAT))

    # Act
    open_ids = [p.position_id for p in repo.list_positions(open_only=True)]
    btc_ids = [p.position_id for p in repo.list_positions(symbol="BTCUSDT")]

    # Assert
    assert open_ids == ["a", "b"]
    assert btc_ids == ["a", "c"]


def test_saving_an_order_again_updates_it_in_place(repo):
    # Arrange
    repo.save_order(order("rt-p1-1"))

    # Act
    repo.save_order(order("rt-p1-1", state=OrderState.NEW))

    # Assert
    assert repo.get_order("rt-p1-1").state is OrderState.NEW
    assert repo.counts()["orders"] == 1
    assert repo.get_order("rt-missing") is None


def test_list_orders_by_position_state_and_symbol_in_creation_order(repo):
    # Arrange
    repo.save_order(order("o1", pid="p1", state=OrderState.CANCELED))
    repo.save_order(order("o2", pid="p1", state=OrderState.NEW))
    repo.save_order(order("o3", pid="p2", symbol="ETHUSDT", state=OrderState.PENDING_NEW))

    # Act
    by_position = [o.client_order_id for o in repo.list_orders(position_id="p1")]
    by_state = [o.client_order_id for o in repo.list_orders(state=OrderState.NEW)]
    by_states = [o.client_order_id for o in repo.list_orders(
        state=[OrderState.NEW, OrderState.PENDING_NEW])]
    by_symbol = [o.client_order_id for o in repo.list_orders(symbol="ETHUSDT")]

    # Assert
    assert by_position == ["o1", "o2"]
    assert by_state == ["o2"]
    assert by_states == ["o2", "o3"]
    assert by_symbol == ["o3"]


def test_recording_the_same_fill_twice_is_harmless(repo):
    # Arrange
    first = fill("1001", pnl=Decimal("-1.25"))

    # Act
    added = repo.record_fill(first)
    again = repo.record_fill(first)

    # Assert
    assert (added, again) == (True, False)
    assert repo.list_fills() == [first]


def test_same_trade_id_on_another_symbol_is_another_fill(repo):
    # Arrange / Act
    repo.record_fill(fill("1001", symbol="BTCUSDT"))
    repo.record_fill(fill("1001", symbol="ETHUSDT"))

    # Assert
    assert len(repo.list_fills()) == 2
    assert [f.symbol for f in repo.list_fills(symbol="ETHUSDT")] == ["ETHUSDT"]


def test_realized_pnl_sums_closing_fills_exactly(repo):
    # Arrange
    repo.record_fill(fill("1", pnl=Decimal("0.100000000000000001")))
    repo.record_fill(fill("2", pnl=Decimal("0.2")))
    repo.record_fill(fill("3"))  # an entry fill: no pnl
    repo.record_fill(fill("4", symbol="ETHUSDT", pnl=Decimal("5")))

    # Act / Assert
    assert repo.realized_pnl("BTCUSDT") == Decimal("0.300000000000000001")
    assert repo.realized_pnl() == Decimal("5.300000000000000001")


def test_kv_set_overwrites_and_get_of_missing_key_is_none(repo):
    # Arrange / Act
    repo.kv_set("reconcile:last", "one")
    repo.kv_set("reconcile:last", "two")

    # Assert
    assert repo.kv_get("reconcile:last") == "two"
    assert repo.kv_get("missing") is None


def test_close_position_unit_applies_every_row_together(repo):
    # Arrange: an open position with its live stop
    repo.apply(Persist(positions=(position("p1"),), orders=(order("rt-p1-1", state=OrderState.NEW),)))
    closing = Persist(
        positions=(position("p1", state=PositionState.FLAT),),
        orders=(order("rt-p1-1", state=OrderState.FILLED),),
        fills=(fill("9", pnl=Decimal("-2.5")),),
    )

    # Act
    repo.apply(closing)

    # Assert
    assert repo.load_position("p1").state is PositionState.FLAT
    assert repo.get_order("rt-p1-1").state is OrderState.FILLED
    assert repo.realized_pnl() == Decimal("-2.5")


def test_a_unit_that_fails_midway_leaves_no_row_behind(repo):
    # Arrange: a real SQLite trigger refuses the unit's last row
    repo.db.execute_sql(REFUSE_POISON)
    unit = Persist(positions=(position("p9"),), orders=(order("o9", pid="p9"),),
                   fills=(fill("99", pid="p9"),), kv=(("poison", "x"),))

    # Act
    with pytest.raises(IntegrityError):
        repo.apply(unit)

    # Assert
    assert repo.counts() == {"positions": 0, "orders": 0, "trades": 0, "kv": 0}


def test_collapsing_units_keeps_the_last_save_of_each_key():
    # Arrange
    units = [
        Persist(positions=(position("a", seq=1), position("b", seq=1)), kv=(("k", "1"),)),
        Persist(positions=(position("a", seq=2),), orders=(order("o1"),), fills=(fill("1"),)),
        Persist(orders=(order("o1", state=OrderState.NEW),), fills=(fill("1"),),
                kv=(("k", "2"),)),
    ]

    # Act
    merged = collapse_units(units)

    # Assert
    assert {p.position_id: p.seq for p in merged.positions} == {"a": 2, "b": 1}
    assert [o.state for o in merged.orders] == [OrderState.NEW]
    assert len(merged.fills) == 2  # the table ignores the duplicate
    assert merged.kv == (("k", "2"),)


def test_orders_of_returns_the_orders_of_many_positions(repo):
    # Arrange
    with repo.transaction():
        for i in range(1200):
            repo.save_order(order(f"o{i}", pid=f"p{i % 600}"))

    # Act
    found = repo.orders_of(f"p{i}" for i in range(0, 600, 2))

    # Assert
    assert len(found) == 600
    assert {o.position_id for o in found} == {f"p{i}" for i in range(0, 600, 2)}
