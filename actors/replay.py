"""Lock-step replay (DESIGN.md §6): every price goes through the same actors as live trading,
the paper exchange matching it first, and is fully handled before the next one.

"Fully handled": the driver puts the price in the Gateway's slot and tells it; the Gateway
matches it on the paper venue and passes it to the pair; the pair decides, and once it has no
command in flight (every order it sent on this price answered) it calls ``on_idle``, which
releases the driver for the next price. One tell and one event per price.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pykka

from actors.conflation import TickSlot
from actors.db_writer import DBWriter
from actors.gateway import Gateway
from actors.messages import GetSnapshot, LoadState, PriceReady, RegisterPair
from actors.pair import PairActor, PairWiring
from core.prices import PricePoint
from core.symbols import paper_filters
from core.trailing import fee, trade_pnl
from core.types import PairSettings, Position, PositionState
from exchange.paper import PaperExchange

ASK_TIMEOUT_S = 60


@dataclass(slots=True, kw_only=True)
class ReplayResult:
    trades: list[dict] = field(default_factory=list)
    orders_sent: int = 0
    stop_moves: int = 0
    final_position: dict | None = None
    prices: int = 0
    stops: list[tuple[str, Decimal | None]] = field(default_factory=list)  # for plots
    entry_refusals: int = 0  # entry buys the venue refused (each followed by a backoff)
    refusal_reason: str | None = None

    def to_report(self) -> dict:
        return {"trades": self.trades, "orders_sent": self.orders_sent,
                "stop_moves": self.stop_moves, "final_position": self.final_position}


def trade_record(p: Position) -> dict:
    return {"entry_time": p.entry_time, "entry_price": str(p.entry_price),
            "exit_time": p.exit_time, "exit_price": str(p.exit_price), "qty": str(p.qty),
            "pnl": str(p.pnl), "exit_reason": p.exit_reason}


def run_replay(
    points: Iterable[PricePoint], settings: PairSettings, *, workdir: Path | None = None,
    prefix: str = "rt", record_stops: bool = False,
    balances: Mapping[str, Decimal] | None = None,
) -> ReplayResult:
    """Replay ``points`` for one symbol through DBWriter, Gateway, PairActor and PaperExchange.
    ``balances``: the paper account's (``[paper] balances``); the quote asset is funded."""
    with tempfile.TemporaryDirectory(prefix="ratchet-replay-") as tmp:
        work = Path(workdir or tmp)
        return _replay(points, settings, work, prefix, record_stops, balances)


def _replay(points, settings, work: Path, prefix: str, record_stops: bool,
            balances: Mapping[str, Decimal] | None) -> ReplayResult:
    symbol = settings.symbol
    filters = paper_filters(settings)
    exchange = PaperExchange(work / "paper.db", settings={symbol: settings}, balances=balances)
    closed: list[Position] = []
    result = ReplayResult()
    db = DBWriter.start(work / "replay.db", synchronous="OFF")
    try:
        gateway = Gateway.start(exchange, matches_prices=True)
        slot = TickSlot(symbol)
        failures: list[BaseException] = []
        idle = threading.Event()
        latest: list[Position] = []

        def on_idle(position: Position) -> None:
            latest[:] = [position]
            idle.set()

        pair = PairActor.start(settings=settings, filters=filters, wiring=PairWiring(
            db_writer=db, gateway=gateway, slot=slot, prefix=prefix, on_trade=closed.append,
            on_failure=failures.append, strict_entry=True, on_idle=on_idle))
        gateway.ask(RegisterPair(symbol=symbol, pair=pair, slot=slot), timeout=ASK_TIMEOUT_S)
        prices = gateway.proxy().price_slot(symbol).get(timeout=ASK_TIMEOUT_S)
        last: PricePoint | None = None
        for point in points:
            idle.clear()
            prices.put(point.price, point.ts, point.time)
            gateway.tell(PriceReady(symbol=symbol))
            _wait_handled(idle, pair, failures)
            last = point
            result.prices += 1
            if record_stops:  # None while flat, so a plot breaks the line between trades
                position = latest[0]
                result.stops.append((point.time, position.stop if position.state is
                                     PositionState.OPEN else None))
        snap = pair.ask(GetSnapshot(), timeout=ASK_TIMEOUT_S)
        history = db.ask(LoadState(open_only=False), timeout=ASK_TIMEOUT_S)
    finally:
        pykka.ActorRegistry.stop_all(timeout=30)
        exchange.close()
    result.trades = [trade_record(p) for p in closed]
    result.orders_sent = sum(1 for o in history.orders if o.state.value != "FAILED")
    result.stop_moves = sum(p.stop_moves for p in history.positions)
    result.entry_refusals = snap["entry_refusals"]
    result.refusal_reason = snap["refusal_reason"]
    position: Position = snap["position"]
    if last is not None and position.state is not PositionState.FLAT:
        result.final_position = {
            "symbol": symbol, "qty": str(position.qty), "entry_price": str(position.entry_price),
            "highest": str(position.highest), "stop": str(position.stop),
            "limit": str(position.limit)}
        result.trades.append(trade_record(close_at_end(position, last, settings)))
    return result


def _wait_handled(idle: threading.Event, pair: pykka.ActorRef, failures: list) -> None:
    """Block until the pair reports the price fully handled; surface its death."""
    waited = 0.0
    while not idle.wait(0.5):
        waited += 0.5
        if failures or not pair.is_alive():
            raise failures[0] if failures else RuntimeError("the pair actor died")
        if waited > ASK_TIMEOUT_S:
            raise TimeoutError("a price was not handled within 60 s")


def close_at_end(position: Position, last: PricePoint, settings: PairSettings) -> Position:
    """An open position at the end of the data, valued as if sold at the last price."""
    pnl = trade_pnl(entry_price=position.entry_price, exit_price=last.price, qty=position.qty,
                    entry_fee=position.entry_fee,
                    exit_fee=fee(last.price * position.qty, settings.fee_pct))
    return position.replace(exit_price=last.price, exit_time=last.time, exit_reason="end",
                            pnl=pnl)
