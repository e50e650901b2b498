"""Paper trading speaks every quote asset: BTC-, EUR- and USD-quoted pairs trade side by side,
and P&L is reported per quote asset in the DB, ``status`` and ``/metrics``."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from decimal import Decimal

from core.config import load_config
from core.types import PositionState
from tests.integration import engine

PAIRS = {
    "ETHBTC": {"tick": "0.000001", "step": "0.0001", "quote_per_trade": "0.01",
               "min_notional": "0.0001"},
    "BTCEUR": {},
    "GOOG": {"quote": "USD", "step": "1", "quote_per_trade": "1000"},
}


def test_pairs_quoted_in_btc_eur_and_usd_trade_and_report_pnl_per_quote(tmp_path):
    config = engine.write_config(tmp_path, PAIRS, defaults='trail_pct = "0.3"\n'
                                 'min_move_pct = "0.05"\nstop_fill_timeout_s = "2"',
                                 feed='volatility_pct = "0.4"\n[feed.start_prices]\n'
                                 'ETHBTC = "0.05"\nBTCEUR = "40000"\nGOOG = "150"')
    cfg = load_config(config)
    db = cfg.engine.db_path
    proc = engine.start(config)
    try:
        closed = engine.wait_for(lambda: {p.symbol for p in engine.read(
            db, lambda r: r.list_positions()) if p.state is PositionState.FLAT
            and p.pnl is not None} == set(PAIRS), timeout=120, what="a closed trade per pair")
        url = f"http://127.0.0.1:{cfg.engine.metrics_port}/metrics"
        scrape = urllib.request.urlopen(url, timeout=10).read().decode()
    finally:
        out = engine.stop(proc)
    status = subprocess.run([*engine.RATCHET, "status", "--json", "-c", str(config)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": str(engine.REPO), "PATH": "/usr/bin:/bin"})

    assert closed, out[-2000:]
    positions = engine.read(db, lambda r: r.list_positions())
    assert {(p.symbol, p.quote_asset) for p in positions} == {
        ("ETHBTC", "BTC"), ("BTCEUR", "EUR"), ("GOOG", "USD")}
    assert 'ratchet_realized_pnl{quote="BTC",symbol="ETHBTC"}' in scrape
    assert 'ratchet_realized_pnl{quote="EUR",symbol="BTCEUR"}' in scrape
    assert 'ratchet_unrealized_pnl{quote="USD",symbol="GOOG"}' in scrape
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    assert state["quote_assets"] == {"BTCEUR": "EUR", "ETHBTC": "BTC", "GOOG": "USD"}
    fills = engine.read(db, lambda r: r.list_fills())
    for quote, symbol in (("BTC", "ETHBTC"), ("EUR", "BTCEUR"), ("USD", "GOOG")):
        booked = sum((f.pnl for f in fills if f.symbol == symbol and f.pnl is not None),
                     Decimal(0))
        assert Decimal(state["realized_pnl_by_quote"][quote]) == booked
        assert {f.fee_asset for f in fills if f.symbol == symbol} == {quote}
        paid = sum((f.fee for f in fills if f.fee_asset == quote), Decimal(0))
        assert Decimal(state["fees_by_asset"][quote]) == paid
