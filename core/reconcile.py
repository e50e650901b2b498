"""Reconciliation as a pure diff (DESIGN.md §5), shared by boot and crash recovery.

``reconcile(local, venue)`` compares the DB's open positions and non-final orders with what the
venue reports, and returns the actions that bring them together. It does no IO: the caller
fetches all open orders in one call, queries by client id only ``orders_to_query(...)``, and
carries the actions out in the order given.

Per open position (OPEN or EXITING) the cases are, in order of precedence:

1. an exit market sell of the position FILLED: the position closes through that order
   (``AdoptIntent``, whether the row was an intent or an acknowledged order that never
   settled); a stop still open is cancelled (``CancelOrphan``): it would sell what is gone;
2. one of its stops FILLED while we were down: ``RecordStopFill`` (its own stop) or
   ``AdoptIntent`` (a stop intent, e.g. an interrupted cancelReplace, that reached the venue
   and filled; the executor closes the position through it);
3. one of its stops is open: ``KeepStop`` when it is the position's stop with the right
   ``stop``, ``limit`` and ``qty`` (a native trailing stop, §3b: the right ``trailingDelta``,
   ``limit`` and ``qty``; it has no stop price, and its peak is the venue's); ``AdoptIntent`` when it is a stop intent (the executor points
   the position at it); a stop whose prices or qty disagree with the position is cancelled and
   replaced (``CancelOrphan`` then ``ReplaceStop``); any second open stop is cancelled;
4. no stop open and none filled (CANCELED, EXPIRED, REJECTED, not found or never placed):
   ``ReplaceStop`` from ``max(highest, last price)`` via ``levels_at``; for a native pair a
   fresh native stop, its limit from that same price.

Which kind a pair's stop must be is its configured ``stop_mode`` (``core.stop_mode``): an open
stop of the other kind is cancelled and replaced.

Every other non-final order row settles on its own: a ``PENDING_NEW`` intent the venue knows is
adopted (``AdoptIntent``), one it does not know failed (``FailIntent``); an acknowledged order
that reached a final state is ``MarkOrder``-ed, except an entry buy or exit sell of a live
position, which the position must take on (``AdoptIntent``). An open order with our prefix and no
row (or with a row the DB holds as final) is an orphan (``CancelOrphan``), with one exception:
an open stop with no row at all over coins the account holds is not ours to cancel (another
engine on this key and prefix, or a DB older than the venue): ``UnknownStop``, and boot refuses;
with ``adopt_orphans`` it is taken over instead (``AdoptOrphan``). Our prefix is ``prefix + "-"``:
an engine with prefix ``rt`` never touches the orders of one with ``rtb``.

When the base asset's total balance is below the qty of the symbol's positions that stay open,
what is missing was sold outside Ratchet: the position keeps what is left (``ShrinkPosition``),
and its stop for more is cancelled and replaced like any wrong stop; a position left with
nothing an order could carry closes unbooked (``CloseUnbooked``), its stops cancelled. A pair
halts (``HaltPair``) only when it has no settings or filters to compute a stop from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from core.money import floor_step
from core.reconcile_actions import (  # noqa: F401 - the actions, re-exported
    ACTION_KINDS,
    Action,
    AdoptIntent,
    AdoptOrphan,
    CancelOrphan,
    CloseUnbooked,
    FailIntent,
    HaltPair,
    KeepStop,
    MarkOrder,
    RecordStopFill,
    ReplaceStop,
    ShrinkPosition,
    UnknownStop,
    summarize,
)
from core.stop_mode import native_delta
from core.trailing import fee, levels_at, trade_pnl
from core.types import (
    Balance,
    Order,
    OrderReport,
    OrderState,
    OrderType,
    PairSettings,
    Position,
    PositionState,
    Side,
    SymbolFilters,
)

ZERO = Decimal(0)


# --- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalState:
    """The DB's view: positions, and every non-final order row (``PENDING_NEW`` included)."""

    positions: tuple[Position, ...]
    orders: tuple[Order, ...]
    settings: Mapping[str, PairSettings]
    filters: Mapping[str, SymbolFilters]
    last_prices: Mapping[str, Decimal]
    prefix: str
    adopt_orphans: bool = False  # take over unknown stops instead of refusing to boot
    known_ids: frozenset[str] = frozenset()  # venue-open orders of ours the DB has rows for


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueState:
    """The venue's view: all open orders (one call), the queried orders by client id (``None``:
    the venue does not know it), and the balances."""

    open_orders: tuple[OrderReport, ...]
    queried: Mapping[str, OrderReport | None]
    balances: Mapping[str, Balance]


# --- the diff -----------------------------------------------------------------------------


def orders_to_query(local: LocalState, open_orders: Iterable[OrderReport]) -> list[Order]:
    """The local non-final orders that are not open on the venue: query each by client id."""
    open_ids = {r.client_order_id for r in open_orders}
    return [o for o in local.orders
            if not o.state.is_final and o.client_order_id not in open_ids]


def reconcile(local: LocalState, venue: VenueState) -> list[Action]:
    """The actions that bring the DB and the venue together (see the module docstring)."""
    return _Diff(local, venue).run()


def stop_fill_pnl(
    position: Position, report: OrderReport, *, fee_pct: Decimal, quote_asset: str | None
) -> tuple[Decimal, Decimal]:
    """``(exit_price, pnl)`` of a position closed by ``report``'s executions.

    ``exit_price`` is the average execution price; ``pnl = (exit − entry) × qty − entry_fee −
    exit fees``. A fee charged in another asset than the quote is valued at ``fee_pct`` of the
    execution's notional. Without executions (a bare order query) the order is taken as filled
    at its limit price, with a ``fee_pct`` fee.
    """
    if report.executions:
        exit_price = report.avg_price
        assert exit_price is not None
        exit_fee = ZERO
        for ex in report.executions:
            exit_fee += (ex.fee if quote_asset is None or ex.fee_asset == quote_asset
                         else fee(ex.price * ex.qty, fee_pct))
    else:
        exit_price = report.limit_price or report.stop_price or position.limit or ZERO
        exit_fee = fee(exit_price * position.qty, fee_pct)
    pnl = trade_pnl(entry_price=position.entry_price, exit_price=exit_price, qty=position.qty,
                    entry_fee=position.entry_fee, exit_fee=exit_fee)
    return exit_price, pnl


def _is_stop(order: Order) -> bool:
    return order.side is Side.SELL and order.type is OrderType.STOP_LOSS_LIMIT


def _is_market(order: Order, side: Side) -> bool:
    return order.side is side and order.type is OrderType.MARKET


class _Diff:
    def __init__(self, local: LocalState, venue: VenueState):
        self.local = local
        self.venue = venue
        self.open = {r.client_order_id: r for r in venue.open_orders}
        self.orders = [o for o in local.orders if not o.state.is_final]
        self.live = [p for p in local.positions if p.state is not PositionState.FLAT]
        self.actions: list[Action] = []

    def report(self, order: Order) -> OrderReport | None:
        cid = order.client_order_id
        if cid in self.open:
            return self.open[cid]
        if cid not in self.venue.queried:
            raise ValueError(f"order {cid} is neither open on the venue nor queried; query "
                             "every order orders_to_query() returns")
        return self.venue.queried[cid]

    def run(self) -> list[Action]:
        by_position: dict[str, list[Order]] = {}
        for order in self.orders:
            by_position.setdefault(order.position_id, []).append(order)
        stays_open = [p for p in self.live
                      if p.state is not PositionState.ENTERING
                      and not self.closes(p, by_position.get(p.position_id, []))]
        halted = self.halted_symbols(stays_open)
        shrunk = self.shortfalls([p for p in stays_open if p.symbol not in halted])
        settled: set[str] = set()
        for position in self.live:
            orders = by_position.get(position.position_id, [])
            if position.state is not PositionState.ENTERING:
                position = self.short(position, shrunk.get(position.position_id), orders)
                if position is not None:
                    self.position(position, orders, position.symbol in halted)
                settled.update(o.client_order_id for o in orders if _is_stop(o))
                settled.update(o.client_order_id for o in orders if _is_market(o, Side.SELL))
        live_ids = {p.position_id for p in self.live}
        for order in self.orders:
            if order.client_order_id not in settled:
                self.settle(order, self.report(order), takes_on=order.position_id in live_ids)
        self.orphans()
        for symbol, reason in halted.items():
            self.actions.append(HaltPair(symbol, reason))
        return self.actions

    # which positions survive

    def closes(self, position: Position, orders: list[Order]) -> bool:
        """Whether a filled exit sell or stop of the position closed it while we were down."""
        for order in orders:
            if _is_stop(order) or _is_market(order, Side.SELL):
                report = self.report(order)
                if report is not None and report.state is OrderState.FILLED:
                    return True
        return False

    def halted_symbols(self, stays_open: list[Position]) -> dict[str, str]:
        """Symbols that lack settings or filters, so a stop cannot be computed."""
        return {p.symbol: f"no settings or symbol filters for {p.symbol}" for p in stays_open
                if p.symbol not in self.local.filters or p.symbol not in self.local.settings}

    def shortfalls(self, stays_open: list[Position]) -> dict[str, Decimal]:
        """Per position, what the account still holds of it when that is less than its qty
        (the base asset's total balance, given to the symbol's positions oldest first)."""
        by_symbol: dict[str, list[Position]] = {}
        for position in stays_open:
            by_symbol.setdefault(position.symbol, []).append(position)
        short: dict[str, Decimal] = {}
        for symbol, positions in by_symbol.items():
            filters = self.local.filters[symbol]
            balance = self.venue.balances.get(filters.base_asset)
            left = balance.total if balance is not None else ZERO
            left -= self.local.settings[symbol].keep_qty  # the user's own, never ours
            for position in positions:
                kept = floor_step(min(left, position.qty), filters.step)
                left -= kept
                if kept < position.qty:
                    short[position.position_id] = kept
        return short

    def short(self, position: Position, kept: Decimal | None,
              orders: list[Order]) -> Position | None:
        """The position as the account still holds it (None: it closes unbooked)."""
        if kept is None:
            return position
        gone = position.qty - kept
        if not self.protectable(position, kept):
            self.actions.append(CloseUnbooked(position.position_id, "sold_outside", gone))
            self.cancel_or_settle([(o, self.report(o)) for o in orders
                                   if _is_stop(o) or _is_market(o, Side.SELL)])
            return None
        self.actions.append(ShrinkPosition(position.position_id, kept, gone))
        return position.replace(qty=kept, sold_outside=position.sold_outside + gone)

    def protectable(self, position: Position, qty: Decimal) -> bool:
        """Whether ``qty`` can carry a stop (LOT_SIZE, NOTIONAL at the stop's limit)."""
        filters = self.local.filters[position.symbol]
        if qty <= 0 or (filters.min_qty > 0 and qty < filters.min_qty):
            return False
        last = self.local.last_prices.get(position.symbol)
        highest = position.highest if last is None else max(position.highest, last)
        levels = levels_at(highest, self.local.settings[position.symbol], filters.tick)
        return qty * levels.limit >= filters.min_notional

    # one position

    def position(self, position: Position, orders: list[Order], halted: bool) -> None:
        stops = [(o, self.report(o)) for o in orders if _is_stop(o)]
        sells = [(o, self.report(o)) for o in orders if _is_market(o, Side.SELL)]
        sold = [(o, r) for o, r in sells if r is not None and r.state is OrderState.FILLED]
        for order, report in sells:
            self.settle(order, report, takes_on=True)
        filled = [(o, r) for o, r in stops if r is not None and r.state is OrderState.FILLED]
        if sold:
            self.cancel_or_settle(stops)
            return
        if filled:
            order, report = filled[0]
            if order.state is OrderState.PENDING_NEW:
                self.actions.append(AdoptIntent(order, report))
            else:
                self.record_fill(position, order, report)
            self.cancel_or_settle([s for s in stops if s[0] is not order])
            return
        working = [(o, r) for o, r in stops if r is not None and r.state.is_open]
        if working:
            keep = next(((o, r) for o, r in working
                         if o.client_order_id == position.stop_order_id), working[-1])
            self.cancel_or_settle([s for s in stops if s[0] is not keep[0]])
            self.keep(position, *keep, halted=halted)
            return
        own = next((o for o, _ in stops if o.client_order_id == position.stop_order_id), None)
        if own is not None and own.state is OrderState.PENDING_NEW:
            own = None  # an intent is settled as an intent (adopt or fail), not as the old stop
        self.cancel_or_settle([s for s in stops if s[0] is not own])
        own_report = self.report(own) if own is not None else None
        if not halted:
            self.replace(position, own, own_report)
        elif own is not None:
            self.settle(own, own_report, takes_on=False)

    def keep(self, position: Position, order: Order, report: OrderReport, *,
             halted: bool) -> None:
        if order.state is OrderState.PENDING_NEW:
            self.actions.append(AdoptIntent(order, report))
            return
        delta = self.delta(position.symbol)
        if delta is None:
            correct = (report.trailing_delta is None and report.stop_price == position.stop
                       and report.limit_price == position.limit and report.qty == position.qty)
        else:  # native: Binance reports no trigger level; its delta, limit and qty must match
            correct = (report.trailing_delta == delta and report.limit_price == position.limit
                       and report.qty == position.qty)
        if correct or halted:
            self.actions.append(KeepStop(position.position_id, order.client_order_id))
            return
        self.actions.append(CancelOrphan(report))
        self.replace(position, order, report)

    def replace(self, position: Position, old: Order | None,
                old_report: OrderReport | None) -> None:
        settings = self.local.settings[position.symbol]
        filters = self.local.filters[position.symbol]
        last = self.local.last_prices.get(position.symbol)
        highest = position.highest if last is None else max(position.highest, last)
        levels = levels_at(highest, settings, filters.tick)
        self.actions.append(ReplaceStop(position.position_id, old, levels.stop, levels.limit,
                                        highest, old_report=old_report, last_price=last,
                                        trailing_delta=self.delta(position.symbol)))

    def delta(self, symbol: str) -> int | None:
        """The symbol's native trailing delta, or None when it keeps a stop it moves."""
        settings, filters = self.local.settings.get(symbol), self.local.filters.get(symbol)
        if settings is None or filters is None:
            return None
        return native_delta(settings, filters)

    def record_fill(self, position: Position, order: Order, report: OrderReport) -> None:
        settings = self.local.settings.get(position.symbol)
        filters = self.local.filters.get(position.symbol)
        if settings is None:
            settings = PairSettings(symbol=position.symbol)  # the §3 default fee
        exit_price, pnl = stop_fill_pnl(
            position, report, fee_pct=settings.fee_pct,
            quote_asset=filters.quote_asset if filters is not None else None)
        self.actions.append(RecordStopFill(position.position_id, order, report, exit_price, pnl))

    # single orders

    def cancel_or_settle(self, stops: list[tuple[Order, OrderReport | None]]) -> None:
        """Stops the position no longer uses: cancel the open ones, settle the rest."""
        for order, report in stops:
            if report is not None and report.state.is_open:
                self.actions.append(CancelOrphan(report))
            else:
                self.settle(order, report, takes_on=False)

    def settle(self, order: Order, report: OrderReport | None, *, takes_on: bool) -> None:
        """One order row outside the stop logic: adopt, fail, mark, cancel or leave alone.

        ``takes_on``: the order belongs to a live position, which must take on its outcome.
        """
        if report is None:
            self.actions.append(FailIntent(order))
        elif order.state is OrderState.PENDING_NEW:
            if _is_stop(order) and report.state.is_open and not takes_on:
                self.actions.append(CancelOrphan(report))  # a stop for a position that is gone
            else:
                self.actions.append(AdoptIntent(order, report))
        elif report.state.is_final:
            if takes_on and order.type is OrderType.MARKET:
                self.actions.append(AdoptIntent(order, report))  # an entry or exit settled
            else:
                self.actions.append(MarkOrder(order, report))
        elif _is_stop(order) and not takes_on:
            self.actions.append(CancelOrphan(report))  # an open stop of a position that is gone

    def orphans(self) -> None:
        # Only non-final rows count: an order the DB holds as final but the venue as open
        # would sell what the DB no longer protects, so it is cancelled like an orphan.
        known = {o.client_order_id for o in self.orders}
        for report in self.venue.open_orders:
            cid = report.client_order_id
            if not cid.startswith(self.local.prefix + "-") or cid in known:
                continue
            if cid not in self.local.known_ids and self.protects_held_coins(report):
                self.actions.append(
                    AdoptOrphan(report, self.local.last_prices.get(report.symbol))
                    if self.local.adopt_orphans else UnknownStop(report))
            else:
                self.actions.append(CancelOrphan(report))

    def protects_held_coins(self, report: OrderReport) -> bool:
        """A stop whose quantity the account holds (its base asset, locked by it)."""
        if report.side is not Side.SELL or report.type is not OrderType.STOP_LOSS_LIMIT:
            return False
        filters = self.local.filters.get(report.symbol)
        base = filters.base_asset if filters is not None else None
        balance = self.venue.balances.get(base) if base is not None else None
        return balance is not None and balance.total >= report.qty
