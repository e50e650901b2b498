"""A stop filled in parts: a user-stream report carries only its latest execution, yet the
close books every fill and prices the exit at their average."""

from __future__ import annotations

from decimal import Decimal

from actors.conflation import TickSlot
from actors.db_writer import DBWriter
from actors.gateway import Gateway
from actors.messages import GetSnapshot, LoadState, OrderUpdated
from actors.pair import PairActor, PairWiring
from core.symbols import paper_filters
from core.types import Order, OrderState, OrderType, PairSettings, Position, PositionState, Side
from exchange.base import Execution, OrderReport
from exchange.paper import PaperExchange
from persistence.db import open_database
from persistence.repository import Repository
from tests.integration.engine import wait_for

D = Decimal


def _report(state: OrderState, executed: str, *executions: Execution) -> OrderReport:
    return OrderReport(client_order_id="rt-p1-2", symbol="BTCUSDT", side=Side.SELL,
                       type=OrderType.STOP_LOSS_LIMIT, state=state, qty=D("2"),
                       executed_qty=D(executed), stop_price=D("97"), limit_price=D("96"),
                       executions=executions)


def test_a_stop_filled_in_two_parts_books_both_fills_and_their_average(tmp_path):
    settings = PairSettings(symbol="BTCUSDT", entry="none")
    position = Position(position_id="p1", symbol="BTCUSDT", state=PositionState.OPEN,
                        qty=D("2"), entry_price=D("100"), entry_fee=D("0.2"), highest=D("100"),
                        stop=D("97"), limit=D("96"), stop_order_id="rt-p1-2", seq=2)
    stop = Order(client_order_id="rt-p1-2", position_id="p1", symbol="BTCUSDT", side=Side.SELL,
                 type=OrderType.STOP_LOSS_LIMIT, qty=D("2"), state=OrderState.NEW,
                 stop_price=D("97"), limit_price=D("96"))
    db = DBWriter.start(tmp_path / "r.db")
    venue = PaperExchange(tmp_path / "paper.db", settings={"BTCUSDT": settings})
    venue.book.set_balance("BTC", D("2"))  # the stop rests on the venue, as after a restart
    venue.on_price("BTCUSDT", D("100"), D(0))
    venue.place_stop_limit(symbol="BTCUSDT", qty=D("2"), stop_price=D("97"),
                           limit_price=D("96"), client_order_id="rt-p1-2")
    gateway = Gateway.start(venue)
    wiring = PairWiring(db_writer=db, gateway=gateway, slot=TickSlot("BTCUSDT"))
    pair = PairActor.start(settings=settings, filters=paper_filters(settings), wiring=wiring,
                           position=position, orders=(stop,))
    first = Execution(trade_id="11", price=D("97"), qty=D("1.5"), fee=D("0.1455"),
                      fee_asset="USDT", ts=D(1), time="t1")
    second = Execution(trade_id="12", price=D("96.5"), qty=D("0.5"), fee=D("0.04825"),
                       fee_asset="USDT", ts=D(2), time="t2")

    pair.tell(OrderUpdated(report=_report(OrderState.PARTIALLY_FILLED, "1.5", first)))
    pair.tell(OrderUpdated(report=_report(OrderState.FILLED, "2", second)))

    wait_for(lambda: pair.ask(GetSnapshot(), timeout=5)["position"].state is
             PositionState.FLAT, timeout=10, what="the close")
    state = db.ask(LoadState(open_only=False), timeout=10)
    closed = state.positions[0]
    exit_price = (D("97") * D("1.5") + D("96.5") * D("0.5")) / 2
    assert closed.exit_price == exit_price
    assert closed.pnl == (exit_price - D("100")) * 2 - D("0.2") - D("0.1455") - D("0.04825")
    pair.stop()
    db.stop()
    gateway.stop()
    venue.close()
    store = open_database(tmp_path / "r.db", readonly=True)
    fills = Repository(store).list_fills(position_id="p1")
    store.close()
    assert sorted(f.exchange_trade_id for f in fills) == ["11", "12"]
