"""The Gateway never waits on one order: an unknown outcome is asked about on a schedule while
every other pair's commands go on; and a Gateway that dies is replaced by the Supervisor (or,
past the restart budget, the engine stops with every stop left on the exchange)."""

from __future__ import annotations

import threading
import time
from decimal import Decimal as D

import pykka
import pytest

from actors.conflation import TickSlot
from actors.gateway import Gateway
from actors.messages import (
    Boot,
    Crash,
    GetSnapshot,
    OrderMissing,
    PlaceMarketOrder,
    PlaceStop,
    RegisterPair,
    ReplaceStop,
    Shutdown,
    StopReplaced,
)
from actors.supervisor import Supervisor
from core.config import load_config
from core.errors import StatusUnknown, UnknownOrder
from core.types import Order, OrderState, OrderType, PairSettings, PositionState, Side
from exchange.paper import PaperExchange
from tests.integration import engine

UNKNOWN_FOR_S = 20.0
SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT")


class UnclearVenue(PaperExchange):
    """The paper venue, except that one client id's market order gets no answer, and every
    query about it stays unanswered for ``UNKNOWN_FOR_S`` seconds (a venue outage for it)."""

    def __init__(self, *args, unclear: str, **kw) -> None:
        super().__init__(*args, **kw)
        self.unclear = unclear
        self.calls: dict[str, int] = {}
        self.until = 0.0

    def market_order(self, *, symbol, side, qty, client_order_id):
        self.calls[client_order_id] = self.calls.get(client_order_id, 0) + 1
        if client_order_id == self.unclear:
            self.until = time.monotonic() + UNKNOWN_FOR_S
            raise StatusUnknown("binance: no answer in time (order)")
        return super().market_order(symbol=symbol, side=side, qty=qty,
                                    client_order_id=client_order_id)

    def get_order(self, *, symbol, client_order_id):
        if client_order_id == self.unclear:
            if time.monotonic() < self.until:
                raise StatusUnknown("binance 500: Internal error")
            raise UnknownOrder("binance -2013: Order does not exist.")
        return super().get_order(symbol=symbol, client_order_id=client_order_id)


class Probe(pykka.ThreadingActor):
    """Stands in for a pair: records what the Gateway tells it, with the time."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[tuple[float, object]] = []
        self.lock = threading.Lock()

    def on_receive(self, message):
        if message == "heard":
            with self.lock:
                return list(self.heard)
        with self.lock:
            self.heard.append((time.monotonic(), message))
        return None


def stop_order(symbol: str, seq: int, stop: str, replaces: str | None = None) -> Order:
    return Order(client_order_id=f"rt-{symbol[:3].lower()}-{seq}", position_id=symbol[:3],
                 symbol=symbol, side=Side.SELL, type=OrderType.STOP_LOSS_LIMIT, qty=D(1),
                 state=OrderState.PENDING_NEW, stop_price=D(stop),
                 limit_price=D(stop) - D(1), replaces=replaces)


@pytest.mark.timeout(120)
def test_an_order_unknown_for_20_s_does_not_hold_up_other_pairs_stop_moves(tmp_path):
    unclear = "rt-aaa-1"
    venue = UnclearVenue(tmp_path / "paper.db", unclear=unclear,
                         settings={s: PairSettings(symbol=s) for s in SYMBOLS})
    for symbol in SYMBOLS:
        venue.on_price(symbol, D(100), D(0))
        venue.book.set_balance(symbol[:3], D(1))
    gateway = Gateway.start(venue)
    probes = {s: Probe.start() for s in SYMBOLS}
    for symbol, probe in probes.items():
        gateway.ask(RegisterPair(symbol=symbol, pair=probe, slot=TickSlot(symbol)), timeout=5)
    stops = {s: stop_order(s, 1, "90") for s in SYMBOLS[1:]}
    for order in stops.values():
        gateway.tell(PlaceStop(order=order))
    buy = Order(client_order_id=unclear, position_id="aaa", symbol="AAAUSDT", side=Side.BUY,
                type=OrderType.MARKET, qty=D(1), state=OrderState.PENDING_NEW)

    started = time.monotonic()
    gateway.tell(PlaceMarketOrder(order=buy))
    seq = 1
    while time.monotonic() - started < UNKNOWN_FOR_S - 2:
        for symbol in SYMBOLS[1:]:
            seq += 1
            new = stop_order(symbol, seq, str(90 + seq * D("0.01")),
                             replaces=stops[symbol].client_order_id)
            gateway.tell(ReplaceStop(old=stops[symbol], new=new, gap=D("0.01")))
            stops[symbol] = new
        time.sleep(0.25)
    answer = engine.wait_for(
        lambda: [(t, m) for t, m in probes["AAAUSDT"].ask("heard", timeout=5)],
        timeout=30, what="the unclear order's answer")
    moved = [t for s in SYMBOLS[1:] for t, m in probes[s].ask("heard", timeout=5)
             if isinstance(m, StopReplaced) and m.report.new is not None]
    gateway.stop()
    for probe in probes.values():
        probe.stop()
    venue.close()

    (answered_at, message), = answer
    assert isinstance(message, OrderMissing)  # known only once the venue answered
    assert answered_at - started >= UNKNOWN_FOR_S
    assert venue.calls[unclear] == 1  # never resent blind
    during = [t for t in moved if t < answered_at]
    assert len(during) >= 60  # 3 pairs x ~4 moves a second for 18 s, minus conflation


@pytest.fixture
def engine_on_paper(tmp_path):
    config = engine.write_config(tmp_path, {s: {} for s in SYMBOLS[:3]},
                                 defaults='trail_pct = "0.5"\nmin_move_pct = "0.05"',
                                 feed='volatility_pct = "0.3"')
    cfg = load_config(config)
    venue = PaperExchange(cfg.engine.paper_state_path, settings={p.symbol: p for p in cfg.pairs})
    fatal: list[str] = []
    sup = Supervisor.start(config=cfg, exchange=venue, on_fatal=fatal.append)
    sup.ask(Boot(), timeout=30)
    yield sup, venue, fatal
    sup.ask(Shutdown(), timeout=30)
    venue.close()


def orders_on_the_venue(venue) -> int:
    """Every order the paper venue ever took: it grows while the pairs trade."""
    return len(venue.book.all_orders())


def unprotected(sup, venue) -> list[dict]:
    """Snapshots of the pairs whose held position has no stop of its own open on the venue (a
    move whose answer the dead Gateway took with it may have put a newer one there than the
    pair knows)."""
    on_venue = {o.client_order_id.rsplit("-", 1)[0] for o in venue.open_orders()
                if o.type is OrderType.STOP_LOSS_LIMIT}
    return [s for s in sup.ask(GetSnapshot(), timeout=10).values()
            if s and s["position"].state is PositionState.OPEN
            and f"rt-{s['position'].position_id}" not in on_venue]


def every_open_position_has_its_stop(sup, venue) -> bool:
    return not unprotected(sup, venue)


def placing_its_stop(snapshot: dict) -> bool:
    """The pair has a recorded stop of its position waiting for the venue's answer (an entry
    that filled just before the Gateway died has its stop's intent written and sent, but
    nothing took it)."""
    pid = snapshot["position"].position_id
    return bool(snapshot["in_flight"]) and any(
        o.type is OrderType.STOP_LOSS_LIMIT and o.position_id == pid
        and o.state is OrderState.PENDING_NEW for o in snapshot["orders"].values())


@pytest.mark.timeout(120)
def test_a_dead_gateway_is_replaced_and_the_pairs_trade_on(engine_on_paper):
    sup, venue, fatal = engine_on_paper
    engine.wait_for(lambda: orders_on_the_venue(venue) > 6, timeout=30, what="trading")
    old = sup.proxy().gateway.get(timeout=5)

    old.tell(Crash(reason="test: gateway crash"))
    new = engine.wait_for(lambda: (g := sup.proxy().gateway.get(timeout=5)) is not old
                          and g.is_alive() and g, timeout=20, what="a new Gateway")
    before = orders_on_the_venue(venue)

    engine.wait_for(lambda: orders_on_the_venue(venue) > before + 6, timeout=30,
                    what="trading on")
    assert not old.is_alive() and new.is_alive()
    assert fatal == []
    assert engine.wait_for(lambda: every_open_position_has_its_stop(sup, venue), timeout=10)


@pytest.mark.timeout(120)
def test_a_gateway_that_keeps_dying_stops_the_engine_with_every_stop_in_place(engine_on_paper):
    sup, venue, fatal = engine_on_paper
    engine.wait_for(lambda: every_open_position_has_its_stop(sup, venue)
                    and orders_on_the_venue(venue) > 6, timeout=30, what="protected positions")

    for _ in range(6):
        old = sup.proxy().gateway.get(timeout=5)
        old.tell(Crash(reason="test: gateway crash"))
        engine.wait_for(lambda o=old: fatal or (sup.proxy().gateway.get(timeout=5) is not o),
                        timeout=20, what="a restart or the stop")

    # Assert: every held position has its stop on the venue, or a stop it was placing when the
    # last Gateway died, recorded and in flight: the next boot's reconciliation asks about it
    assert len(fatal) == 1 and "Gateway failed 6 times" in fatal[0]
    assert [s["symbol"] for s in unprotected(sup, venue) if not placing_its_stop(s)] == []
