"""The pairs table marks what is not the plain case: an adopted position (coins held before
Ratchet) reads ``adopted`` after its state, and a native trailing stop's level, Ratchet's
estimate, reads ``~`` before it."""

from __future__ import annotations

from decimal import Decimal as D

from rich.console import Console

from cli.table import PairRow, pairs_table


def rendered(*rows: PairRow) -> dict[str, list[str]]:
    console = Console(width=200, record=True, highlight=False)
    console.print(pairs_table(rows))
    out = {}
    for line in console.export_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if cells and cells[0] in {r.symbol for r in rows}:
            out[cells[0]] = cells
    return out


def test_adopted_and_estimated_are_marked_and_plain_rows_are_not():
    rows = rendered(
        PairRow(symbol="BTCUSDT", price=D(100), highest=D(110), stop=D(99), qty=D("0.04"),
                state="OPEN", adopted=True, stop_estimated=True),
        PairRow(symbol="ETHUSDT", price=D(100), highest=D(110), stop=D(99), qty=D(1),
                state="OPEN"))

    assert rows["BTCUSDT"][3] == "~99" and rows["BTCUSDT"][8] == "OPEN adopted"
    assert rows["ETHUSDT"][3] == "99" and rows["ETHUSDT"][8] == "OPEN"
    assert rows["BTCUSDT"][4] == rows["ETHUSDT"][4] == "1.00"  # the distance, from the estimate
