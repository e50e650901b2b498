"""The reference backtest: a direct loop over ``core.trailing`` and ``core.fill_model``.

No actors, no exchange, no DB. The actor pipeline's replay must equal this, trade for trade and
Decimal for Decimal (DESIGN.md §3 "Order of work on each price", §6 replay report).

On each price, in this order:

1. the stop (if any) is matched against the price (``match_stop``);
2. if that filled it, the trade is recorded (``exit_reason = "stop"``) and the pair is flat;
3. if flat and not closed on this price, with ``entry = always``, it buys at market at this
   price and places the first stop from ``levels_at(price)``;
4. if open (and not opened on this price): a triggered, unfilled stop is checked for the timeout
   (then a market sell at this price, ``exit_reason = "timeout"``); an untriggered stop raises
   ``highest`` and moves to ``next_stop`` when it returns levels.

Conventions the actor engine shares:

- ``orders_sent`` counts every order placed: each market buy, each initial stop, each
  cancelReplace's new stop and each timeout market sell. A cancel is not an order sent.
- The entry fee and the exit fee are each ``fee(price × qty, fee_pct)``; a trade's ``pnl`` is
  ``(exit − entry) × qty − entry_fee − exit_fee``, not rounded.
- With ``entry = always`` the first price is an entry; after a close, the next price is one.
  ``entry = "none"`` or ``"adopt"`` never buys here, so such a backtest has no trades.
- At the end, an open position (including one whose stop triggered but did not fill) becomes a
  trade with ``exit_reason = "end"`` at the last price, with both fees. ``final_position`` then
  describes that position as it stood before this synthetic close (``{symbol, qty,
  entry_price, highest, stop, limit}`` as strings); it is ``None`` when flat at the end. The
  synthetic close is not an order sent.
- Placing the first stop is not a stop move; ``stop_moves`` counts ``next_stop`` moves.
- ``BelowMinNotional`` at an entry stops the backtest, naming the price's time and value.

With ``stop_mode = "native"`` (or ``"auto"`` where it resolves to native, ``core.stop_mode``)
the stop is §3b's: one trailing stop per trade with ``trailingDelta = trail_pct × 100`` and the
fixed limit ``levels_at(P).limit``, matched by ``match_trailing`` (tracking from the price after
the entry); it is never moved (``stop_moves`` 0, one stop per trade in ``orders_sent``), and
``final_position``'s ``stop`` is Ratchet's estimate ``floor_tick(highest × (1 − trail_pct/100))``.

``observe(point, highest, live)``, if given, is called on each price that ends with a position
open: its ``highest`` and the live stop's trigger level (replace: the stop price; native: the
venue's exact ``peak × (1 − delta/10000)``, ``None`` before it tracks). The bench measures the
gap to §3's ideal stop with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.errors import BelowMinNotional
from core.fill_model import StopState, TrailingStop, VenueStop, match_order, timed_out
from core.prices import PricePoint
from core.stop_mode import native_delta
from core.trailing import candidate_stop, entry_quantity, fee, levels_at, next_stop, trade_pnl
from core.types import EntryMode, PairSettings, SymbolFilters

EXIT_STOP = "stop"
EXIT_TIMEOUT = "timeout"
EXIT_END = "end"


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One closed trade of the §6 report."""

    entry_time: str
    entry_price: Decimal
    exit_time: str
    exit_price: Decimal
    qty: Decimal
    pnl: Decimal
    exit_reason: str

    def to_json(self) -> dict[str, str]:
        return {
            "entry_time": self.entry_time,
            "entry_price": str(self.entry_price),
            "exit_time": self.exit_time,
            "exit_price": str(self.exit_price),
            "qty": str(self.qty),
            "pnl": str(self.pnl),
            "exit_reason": self.exit_reason,
        }


@dataclass(slots=True)
class BacktestResult:
    trades: list[TradeRecord] = field(default_factory=list)
    orders_sent: int = 0
    stop_moves: int = 0
    final_position: dict[str, str] | None = None

    @property
    def total_pnl(self) -> Decimal:
        return sum((t.pnl for t in self.trades), Decimal(0))

    def to_report(self) -> dict[str, Any]:
        """The §6 JSON report: Decimals as strings, times as given."""
        return {
            "trades": [t.to_json() for t in self.trades],
            "orders_sent": self.orders_sent,
            "stop_moves": self.stop_moves,
            "final_position": self.final_position,
        }


@dataclass(slots=True)
class _Open:
    """The open position while the loop runs (mutable, local to ``simulate``)."""

    entry_time: str
    entry_price: Decimal
    entry_fee: Decimal
    qty: Decimal
    highest: Decimal
    stop: VenueStop


Observer = Callable[[PricePoint, Decimal, Decimal | None], None]


def live_level(stop: VenueStop) -> Decimal | None:
    """Where a stop triggers now: its stop price, or a trailing stop's exact level."""
    if isinstance(stop, TrailingStop):
        return stop.trigger_price()
    return stop.stop


def simulate(
    points: Iterable[PricePoint], settings: PairSettings, filters: SymbolFilters,
    observe: Observer | None = None,
) -> BacktestResult:
    """Run the §3 (or §3b native) rules over ``points`` for one symbol, from flat."""
    result = BacktestResult()
    tick = filters.tick
    buys = settings.entry is EntryMode.ALWAYS
    delta = native_delta(settings, filters)
    pos: _Open | None = None
    last: PricePoint | None = None

    def close(at: PricePoint, exit_price: Decimal, reason: str) -> None:
        assert pos is not None
        exit_fee = fee(exit_price * pos.qty, settings.fee_pct)
        pnl = trade_pnl(entry_price=pos.entry_price, exit_price=exit_price, qty=pos.qty,
                        entry_fee=pos.entry_fee, exit_fee=exit_fee)
        result.trades.append(TradeRecord(pos.entry_time, pos.entry_price, at.time, exit_price,
                                         pos.qty, pnl, reason))

    for point in points:
        last = point
        price = point.price
        # 1-2. The exchange matches the stop; a fill closes the position.
        if pos is not None:
            match = match_order(pos.stop, price, point.ts)
            pos.stop = match.state
            if match.fill_price is not None:
                close(point, match.fill_price, EXIT_STOP)
                pos = None
                continue  # re-enter on the next price, not this one
        # 3. Flat: buy at market at this price.
        if pos is None:
            if buys:
                pos = _enter(point, settings, filters, delta)
                result.orders_sent += 2  # the market buy and the first stop
                if observe is not None:
                    observe(point, pos.highest, live_level(pos.stop))
            continue
        # 4. Open: the timeout of a triggered stop, or the trailing rules.
        if pos.stop.triggered:
            if timed_out(pos.stop, point.ts, settings.stop_fill_timeout_s):
                result.orders_sent += 1  # the market sell (the cancel is not an order)
                close(point, price, EXIT_TIMEOUT)
                pos = None
            elif observe is not None:
                observe(point, pos.highest, live_level(pos.stop))
            continue
        pos.highest = max(pos.highest, price)
        if isinstance(pos.stop, StopState):  # a native stop is never moved
            levels = next_stop(stop=pos.stop.stop, highest=pos.highest,
                               entry_price=pos.entry_price, settings=settings, tick=tick)
            if levels is not None:
                pos.stop = StopState(levels.stop, levels.limit)
                result.orders_sent += 1
                result.stop_moves += 1
        if observe is not None:
            observe(point, pos.highest, live_level(pos.stop))

    if pos is not None:
        assert last is not None
        stop = pos.stop.stop if isinstance(pos.stop, StopState) else candidate_stop(
            pos.highest, trail_pct=settings.trail_pct, tick=tick)  # native: the estimate
        result.final_position = {
            "symbol": settings.symbol,
            "qty": str(pos.qty),
            "entry_price": str(pos.entry_price),
            "highest": str(pos.highest),
            "stop": str(stop),
            "limit": str(pos.stop.limit),
        }
        close(last, last.price, EXIT_END)
    return result


def _enter(point: PricePoint, settings: PairSettings, filters: SymbolFilters,
           delta: int | None) -> _Open:
    price = point.price
    try:
        qty = entry_quantity(price, settings, filters)
    except BelowMinNotional as exc:
        raise BelowMinNotional(f"entry at {point.time} price {price}: {exc}") from exc
    levels = levels_at(price, settings, filters.tick)
    stop: VenueStop = StopState(levels.stop, levels.limit) if delta is None else \
        TrailingStop(delta=delta, limit=levels.limit)
    return _Open(
        entry_time=point.time,
        entry_price=price,
        entry_fee=fee(price * qty, settings.fee_pct),
        qty=qty,
        highest=price,
        stop=stop,
    )
