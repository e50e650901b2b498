"""Boot reconciliation of 1,000 open positions against the sim at 20 ms a request, through a
real DBWriter and a real BinanceExchange: one all-symbol openOrders call, and a query by client
id only for the stops that are not open (DESIGN.md §5)."""

from __future__ import annotations

from actors import recovery
from actors.db_writer import DBWriter
from tests.integration import engine
from tests.sim_engine import harness as h
from tests.sim_engine.fleet import SETTINGS, Fleet

FLEET = Fleet(size=1000, canceled=30, filled=20, missing=10)


def test_reconciling_1000_positions_reads_open_orders_once_and_queries_only_the_rest(tmp_path):
    with h.fast_dir(tmp_path) as directory:
        sim = h.start_sim(directory, *FLEET.sim_args(), latency_ms=20)
        writer = None
        try:
            db_path = directory / "ratchet.db"
            FLEET.prepare(db_path, sim)
            symbols = FLEET.symbols
            exchange = sim.exchange(key=h.API_KEY, secret=h.API_SECRET, symbols=symbols,
                                    timeout_s="5")
            filters = {s: exchange.symbol_filters(s) for s in symbols}  # one exchangeInfo
            writer = DBWriter.start(db_path)
            sim.reset_requests()

            report = recovery.reconcile_with_db(
                exchange, writer, settings={s: FLEET.settings(s) for s in symbols},
                filters=filters, prefix="rt")

            counts = sim.requests()
            open_stops = h.open_on_sim(sim)
        finally:
            if writer is not None:
                writer.stop()
            sim.stop()
        positions = h.open_positions(db_path)

    # One all-symbol openOrders call (a single-symbol one could not cover 1,000 symbols).
    assert counts[h.OPEN_ORDERS] == 1
    # Queries only for the 60 stops that are not open; trades only for the 20 that filled.
    assert counts[h.ORDER_GET] == FLEET.not_open == report.queried
    assert counts[h.MY_TRADES] == FLEET.filled
    # One price list for every symbol, one account call, a new stop for each lost one.
    assert counts[h.TICKER] == 1 and counts["GET /api/v3/account"] == 1
    assert counts[h.ORDER_POST] == FLEET.canceled + FLEET.missing
    assert counts.get(h.REPLACE, 0) == 0 and counts.get(h.ORDER_DELETE, 0) == 0
    assert sum(counts.values()) == 1 + 60 + 20 + 1 + 1 + 40

    assert report.actions["keep_stop"] == FLEET.size - FLEET.not_open
    assert report.actions["record_stop_fill"] == FLEET.filled
    assert report.actions["replace_stop"] == FLEET.canceled + FLEET.missing
    assert report.errors == [] and report.halted == []
    # Every position left open has its stop open on the sim; the filled ones are closed.
    assert len(positions) == FLEET.size - FLEET.filled
    assert set(open_stops) == {p.stop_order_id for p in positions.values()}


def test_engine_boot_asks_the_venue_only_about_stops_that_were_not_open(tmp_path):
    fleet = Fleet(size=24, canceled=2, filled=1, missing=1)
    with h.fast_dir(tmp_path) as directory:
        sim = h.start_sim(directory, *fleet.sim_args())
        proc = None
        try:
            db_path = directory / "ratchet.db"
            fleet.prepare(db_path, sim)
            config = h.write_config(directory, sim.url, fleet.symbols, defaults=SETTINGS)
            sim.reset_requests()
            proc = h.start_engine(config)
            # The pairs' first questions go to the Gateway before its first upkeep, whose
            # catch-up poll (the user stream just came up) is the second openOrders call.
            engine.wait_for(lambda: sim.requests().get(h.OPEN_ORDERS) == 2,
                            what="boot, then the catch-up poll")
            counts = sim.requests()
        finally:
            out = h.stop_engine(proc) if proc is not None else ""
            sim.stop()
    assert proc.returncode == 0, out[-3000:]

    # Reconciliation's queries only: nothing about the 20 stops it saw open, nor about the
    # 3 it placed; the 21 pairs trade on without asking again.
    assert counts[h.ORDER_GET] == fleet.not_open
    assert counts[h.ORDER_POST] == fleet.canceled + fleet.missing
    # One exchangeInfo, one account check; one price list for reconciliation and one where
    # the feed starts, not one price per pair (22 s of boot for 1,000 pairs at 20 ms).
    assert counts["GET /api/v3/exchangeInfo"] == 1
    assert counts[h.TICKER] == 2, counts
