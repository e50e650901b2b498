"""2,000+ order operations against a sim failing 10 % of requests, driven by the §4 rules."""

from __future__ import annotations

import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from core.money import floor_tick
from tests.exchange.binance.driver import Driver, Position
from tests.exchange.binance.simproc import Sim

TARGET_ORDER_OPS = 2000
SIZES = {"BTCUSDT": Decimal("0.002"), "ETHUSDT": Decimal("0.05"), "SOLUSDT": Decimal("1")}
POSITIONS_PER_SYMBOL = 4
SHM = Path("/dev/shm")


@pytest.fixture
def state_dir(tmp_path):
    """The sim's SQLite fsyncs every commit; on tmpfs that costs nothing (the run is 2.5× faster)."""
    if not (SHM.is_dir() and SHM.stat().st_mode & 0o002):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=SHM, prefix="ratchet-fault-run-") as path:
        yield Path(path)


def test_fault_run_loses_no_order_and_leaves_every_position_protected(state_dir):
    sim = Sim(state_dir, "--fail-rate", "0.1", "--seed", "11", "--timeout-s", "0.05",
              "--orders-10s", "1000000", "--weight-1m", "10000000")
    try:
        sim.pause()
        ex = sim.exchange(symbols=tuple(SIZES), timeout_s="1")
        driver = Driver(ex)
        prices = {s: Decimal(p) for s, p in sim.info()["prices"].items()}
        positions = []
        for symbol, qty in SIZES.items():
            tick = ex.symbol_filters(symbol).tick
            for n in range(POSITIONS_PER_SYMBOL):
                pos = Position(f"{symbol[:3].lower()}{n}", symbol, tick=tick)
                driver.open(pos, qty)
                driver.protect(pos, floor_tick(prices[symbol] / 2, tick))
                positions.append(pos)

        step = 0
        while driver.order_ops < TARGET_ORDER_OPS:
            pos = positions[step % len(positions)]
            higher = pos.stop + pos.tick * (1 + step % 3)
            if step % 10 == 9:
                driver.cancel_and_replace_by_hand(pos, higher)
            else:
                driver.move(pos, higher)
            step += 1

        venue_orders = sim.orders()
    finally:
        sim.stop()

    # No client order id was ever sent in two order requests, or accepted twice.
    assert max(row.sends for row in driver.rows.values()) == 1
    assert Counter(o["clientOrderId"] for o in venue_orders).most_common(1)[0][1] == 1
    assert driver.outcomes["rejected"] == 0
    # No order exists on the venue that the driver's records do not know, in the same state.
    assert {o["clientOrderId"] for o in venue_orders} <= set(driver.rows)
    open_on_venue = {o["clientOrderId"] for o in venue_orders if o["status"] == "NEW"}
    assert open_on_venue == {cid for cid, row in driver.rows.items() if row.state.is_open}
    # Every position ends with exactly its one stop open, for its whole quantity.
    assert open_on_venue == {pos.stop_order_id for pos in positions}
    by_id = {o["clientOrderId"]: o for o in venue_orders}
    assert all(Decimal(by_id[p.stop_order_id]["origQty"]) == p.qty for p in positions)
    # The run did meet the faults it is about.
    assert driver.order_ops >= TARGET_ORDER_OPS
    assert driver.outcomes["unknown"] + driver.outcomes["replace-unknown"] > 50
    assert driver.outcomes["replace-half"] > 5 and driver.outcomes["cancel-requery"] > 0
