"""An order whose outcome was unknown may still land (issue 24): the venue saying it has no
such order (-2013) is not believed until the request's recvWindow and a margin have passed, so
a late order is heard as what it became, never as missing; one that never lands is missing only
once that window is over. Boot does the same with an intent left by a killed process."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from actors import recovery
from actors.conflation import TickSlot
from actors.gateway import Gateway
from actors.messages import OrderMissing, OrderUpdated, PlaceMarketOrder, QueryOrder, RegisterPair
from core.errors import StatusUnknown
from core.types import Order, OrderState, OrderType, PairSettings, Position, PositionState, Side
from exchange.paper import PaperExchange
from tests.actors.test_gateway import Probe
from tests.integration import engine

SYM = "AAAUSDT"
WINDOW_S = 1.5


class LateVenue(PaperExchange):
    """The paper venue, except that a market order is answered "unknown" and lands only
    ``land_after_s`` later (``None``: never); meanwhile the venue does not know it (-2013)."""

    landing_window_s = WINDOW_S

    def __init__(self, *args, land_after_s: float | None, **kw) -> None:
        super().__init__(*args, **kw)
        self.land_after_s = land_after_s
        self.pending: dict[str, tuple[float, dict]] = {}
        self.queries = 0

    def market_order(self, **order):
        self.pending[order["client_order_id"]] = (time.monotonic(), order)
        raise StatusUnknown("binance 503: Send status unknown; execution status unknown.")

    def get_order(self, *, symbol, client_order_id):
        self.queries += 1
        sent = self.pending.get(client_order_id)
        if sent is not None and self.land_after_s is not None \
                and time.monotonic() - sent[0] >= self.land_after_s:
            super().market_order(**self.pending.pop(client_order_id)[1])
        return super().get_order(symbol=symbol, client_order_id=client_order_id)


def buy(cid: str = "rt-aaa-1") -> Order:
    return Order(client_order_id=cid, position_id="aaa", symbol=SYM, side=Side.BUY,
                 type=OrderType.MARKET, qty=D(1), state=OrderState.PENDING_NEW)


@pytest.fixture
def wired(tmp_path):
    started = []

    def start(land_after_s):
        venue = LateVenue(tmp_path / "paper.db", land_after_s=land_after_s,
                          settings={SYM: PairSettings(symbol=SYM)})
        venue.on_price(SYM, D(100), D(0))
        gateway = Gateway.start(venue)
        probe = Probe.start()
        gateway.ask(RegisterPair(symbol=SYM, pair=probe, slot=TickSlot(SYM)), timeout=5)
        started.append((gateway, probe, venue))
        return gateway, probe, venue

    yield start
    for gateway, probe, venue in started:
        gateway.stop()
        probe.stop()
        venue.close()


def answer(probe) -> object:
    heard = engine.wait_for(lambda: probe.ask("heard", timeout=5), timeout=20,
                            what="the pair's answer")
    return heard[0][1]


def test_an_order_that_lands_late_is_heard_filled_not_missing(wired):
    gateway, probe, venue = wired(land_after_s=0.8)

    gateway.tell(PlaceMarketOrder(order=buy()))
    heard = answer(probe)

    assert isinstance(heard, OrderUpdated) and heard.report.state is OrderState.FILLED
    assert venue.queries >= 2  # -2013 at first, asked again


def test_an_order_that_never_lands_is_missing_only_after_the_window(wired):
    gateway, probe, venue = wired(land_after_s=None)

    sent = time.monotonic()
    gateway.tell(PlaceMarketOrder(order=buy()))
    heard = answer(probe)

    assert isinstance(heard, OrderMissing)
    assert time.monotonic() - sent >= WINDOW_S


def test_a_restarted_pairs_question_about_an_intent_waits_out_the_window(wired):
    gateway, probe, venue = wired(land_after_s=None)

    asked = time.monotonic()
    gateway.tell(QueryOrder(order=buy("rt-aaa-7")))  # an intent the venue never saw
    heard = answer(probe)

    assert isinstance(heard, OrderMissing)
    assert time.monotonic() - asked >= WINDOW_S


def test_boot_asks_again_about_a_young_intent_and_adopts_what_landed(tmp_path):
    venue = LateVenue(tmp_path / "paper.db", land_after_s=0.5,
                      settings={SYM: PairSettings(symbol=SYM)})
    venue.on_price(SYM, D(100), D(0))
    try:
        with pytest.raises(StatusUnknown):
            venue.market_order(symbol=SYM, side=Side.BUY, qty=D(1),
                               client_order_id="rt-aaa-1")  # sent, then killed
        entering = Position(position_id="aaa", symbol=SYM, state=PositionState.ENTERING, seq=1)
        slept: list[float] = []

        the_plan = recovery.plan(
            venue, (entering,), (buy(),), settings={SYM: PairSettings(symbol=SYM)},
            filters={SYM: venue.symbol_filters(SYM)}, prefix="rt",
            written={"rt-aaa-1": datetime.now(UTC).isoformat()},
            sleep=lambda s: (slept.append(s), time.sleep(s)))
    finally:
        venue.close()

    assert [type(a).__name__ for a in the_plan.actions] == ["AdoptIntent"]
    assert len(slept) == 1 and 0 < slept[0] <= WINDOW_S


def test_boot_believes_an_old_intent_is_missing_at_once(tmp_path):
    venue = LateVenue(tmp_path / "paper.db", land_after_s=None,
                      settings={SYM: PairSettings(symbol=SYM)})
    try:
        entering = Position(position_id="aaa", symbol=SYM, state=PositionState.ENTERING, seq=1)
        slept: list[float] = []
        the_plan = recovery.plan(
            venue, (entering,), (buy(),), settings={SYM: PairSettings(symbol=SYM)},
            filters={SYM: venue.symbol_filters(SYM)}, prefix="rt",
            written={"rt-aaa-1": "2026-01-01T00:00:00+00:00"}, sleep=slept.append)
    finally:
        venue.close()

    assert [type(a).__name__ for a in the_plan.actions] == ["FailIntent"]
    assert slept == []
