"""The pair machine's answers to a refused protective order, for ``core.pair_machine``.

A protective order is a stop for held coins or a sale at market. Whatever the venue says, the
coins end under one stop or on their way out: each refusal class of ``core.refusals`` has one
answer here, and none of them halts. While the pair waits (for the venue's answer, a market
that trades again, or a retry's time) ``Guard.bare_since`` dates the gap; a gap that lasts
``unprotected_exit_s`` ends in an exit at market (``Transitions.drive``).
"""

from __future__ import annotations

from decimal import Decimal

from core.commands import (
    BalanceSeen,
    CancelStrays,
    FiltersRefreshed,
    MarketReopened,
    ReadBalance,
    RefreshFilters,
    WatchMarket,
)
from core.money import floor_step
from core.pair_past import Past
from core.pair_state import NO_GUARD, ZERO, Send, is_stop
from core.refusals import Refusal, retry_delay_s
from core.types import Order, PositionState, Side


class Guarding(Past):

    def refused_protection(self, order: Order, kind: Refusal, reason: str) -> None:
        """A stop for held coins, or a sale of them, was refused (its row is already written)."""
        if self.position.stop_order_id == order.client_order_id:
            self.set(position=self.position.replace(stop_order_id=None))
        guard = self.state.guard
        self.set(guard=guard.replace(bare_since=guard.bare_since or self.now))
        self.log("protection_refused", "warning", client_order_id=order.client_order_id,
                 refusal=kind.value, reason=reason)
        match kind:
            case Refusal.WOULD_TRIGGER if is_stop(order):
                self.begin_exit("stop")  # the price is already through it
            case Refusal.ALGO_CAP:
                self.cancel_strays()
            case Refusal.MARKET_CLOSED:
                self.watch_market()
            case Refusal.FILTER if not guard.refit:
                self.ask(RefreshFilters(symbol=self.symbol), self._filters_id())
                self.set(guard=self.state.guard.replace(refit=True))
            case Refusal.FILTER if is_stop(order):
                self.begin_exit("stop")  # fresh filters and the last price cannot fit it
            case Refusal.FILTER:
                self.leave_unbooked("dust", self.remaining(self.position))
            case Refusal.INSUFFICIENT:
                asset = self.filters.base_asset
                self.ask(ReadBalance(symbol=self.symbol, asset=asset), self._balance_id())
                self.set(guard=self.state.guard.replace(balance=True))
            case _:
                self.retry_later()

    # --- the answers ---------------------------------------------------------------------------

    def cancel_strays(self) -> None:
        keep = frozenset(cid for cid, o in self.state.orders.items() if is_stop(o))
        self.effects.append(Send(command=CancelStrays(symbol=self.symbol,
                                                      prefix=self.pair.prefix, keep=keep)))
        self.set(in_flight=self.state.in_flight | {self._strays_id()})

    def watch_market(self) -> None:
        if self.state.guard.market_closed:
            return
        self.log("market_closed", "warning", action="wait for trading, then protect")
        self.set(guard=self.state.guard.replace(market_closed=True))
        self.ask(WatchMarket(symbol=self.symbol), self._market_id())

    def on_market_reopened(self, event: MarketReopened) -> None:
        self.answered(self._market_id())
        self.set(guard=self.state.guard.replace(market_closed=False, retry_at=None))
        if event.price is not None:
            self.set(last_price=event.price)
        self.log("market_reopened", price=event.price)

    def on_filters(self, event: FiltersRefreshed) -> None:
        self.answered(self._filters_id())
        self.set(filters=event.filters)

    def retry_later(self) -> None:
        guard = self.state.guard
        delay = retry_delay_s(guard.retries + 1)
        self.set(guard=guard.replace(retries=guard.retries + 1, retry_at=self.now + delay))
        self.log("protection_retry", "warning", retry_in_s=delay, retries=guard.retries + 1)

    def on_balance_read(self, seen: BalanceSeen) -> None:
        """The account's answer after a refusal for want of coins: what is gone was sold
        outside Ratchet; what is left is protected (drive places its stop, or sells it)."""
        self.answered(self._balance_id())
        self.set(guard=self.state.guard.replace(balance=False))
        p = self.position
        if p.state not in (PositionState.OPEN, PositionState.EXITING):
            return
        held = self.remaining(p)
        kept_aside = self.pair.settings.keep_qty  # the user's own coins, never ours to protect
        have = floor_step(max(seen.free + seen.locked - kept_aside, ZERO), self.filters.step)
        if have >= held:  # the coins are there (locked by another order?): try again later
            self.retry_later()
            return
        gone = held - have
        if not self.protectable(have):
            self.leave_unbooked("sold_outside", have, gone=gone)
            return
        shrunk = p.replace(qty=p.qty - gone, sold_outside=p.sold_outside + gone)
        self.set(position=shrunk)
        self.write(positions=(shrunk,))
        self.log("sold_outside", "warning", qty_gone=gone, qty_left=have,
                 action="protect what is left")

    def protectable(self, qty: Decimal) -> bool:
        """Whether ``qty`` can carry an order at the last price (LOT_SIZE, NOTIONAL)."""
        f, price = self.filters, self.state.last_price
        if qty <= 0 or (f.min_qty > 0 and qty < f.min_qty):
            return False
        return price is None or qty * price >= f.min_notional

    def leave_unbooked(self, reason: str, left: Decimal, *, gone: Decimal = ZERO) -> None:
        """Close a position that can neither be protected nor sold: its coins are gone
        (``sold_outside``) or too few for any order (``dust``). No P&L is booked: Ratchet did
        not sell them. ``left`` coins stay on the account, unmanaged."""
        p = self.position
        closed = p.replace(state=PositionState.FLAT, exit_reason=reason,
                           exit_time=self.state.last_time, stop_order_id=None,
                           triggered_at=None, sold_outside=p.sold_outside + gone)
        for order in [o for o in self.state.orders.values() if o.side is Side.SELL]:
            self.forget(order)
        self.write(positions=(closed,))
        self.set(position=closed, guard=NO_GUARD, filters=None, executions={},
                 exit_executions=())
        self.log("position_left", "warning", position_id=p.position_id, reason=reason,
                 qty_gone=gone, qty_left=left)

    # --- plumbing ----------------------------------------------------------------------------

    @property
    def symbol(self) -> str:
        return self.pair.settings.symbol

    def ask(self, command: object, key: str) -> None:
        """Send a read whose answer the pair waits for, marked in flight under ``key``."""
        self.effects.append(Send(command=command))
        self.set(in_flight=self.state.in_flight | {key})

    def _market_id(self) -> str:
        return f"market:{self.symbol}"

    def _filters_id(self) -> str:
        return f"filters:{self.symbol}"

    def _balance_id(self) -> str:
        return f"balance:{self.symbol}"
