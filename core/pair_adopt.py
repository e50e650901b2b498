"""The pair machine's handling of balances (``BalanceSeen``) and of native stops on each price,
for ``core.pair_machine``: coins already held (``entry = "adopt"``, ``core.adopt``) and the
§3b view of a native trailing stop (``core.native``).

A balance is trusted only when nothing of the pair is in flight: every command it sent has been
answered, and the Gateway, which runs every venue call in order, read the balance after those
answers. A balance that came before any price waits for the first one, unless a venue event
comes first (it may have changed the balance).

- FLAT: ``floor_step(free − keep_qty)`` worth ``min_notional`` at the last price becomes an
  OPEN position, its stop placed as after an entry (``protect``). Nothing is ever bought.
  Coins whose stop would break a filter at that price (or would trigger at once) are not
  adopted: Ratchet never sells what it was not asked to. The pair says why once (log,
  ``AdoptSkipped`` for the gauge and ``status``) and looks again at each balance read.
- OPEN: free coins worth ``min_notional`` are added to it (``top_up``: one cancelReplace for
  the larger quantity at the same levels). A balance (free + locked) below what the position
  holds means its stop filled, or was canceled and the coins sold: the pair asks the venue
  about its stop. A fill closes it; a stop gone is placed again, and if the coins are gone
  too the venue refuses it for want of them, and the pair protects what is left
  (``core.pair_guard``).
"""

from __future__ import annotations

from decimal import Decimal

from core import adopt, native
from core.commands import BalanceSeen, ReplaceStop
from core.pair_guard import Guarding
from core.pair_state import ZERO, AdoptSkipped
from core.stop_rules import fit_stop, stop_problem, would_trigger
from core.trailing import StopLevels, levels_at
from core.types import EntryMode, Order, OrderState, PositionState, Tick


class Holdings(Guarding):

    # balances

    def on_balance(self, seen: BalanceSeen) -> None:
        s = self.pair
        if (s.settings.entry is not EntryMode.ADOPT or seen.asset != self.filters.base_asset
                or self.state.in_flight):
            return
        if self.state.last_price is None:
            self.set(balance=seen)  # no price to value it at yet: the first price will
            return
        self.use_balance(seen)

    def use_balance(self, seen: BalanceSeen) -> None:
        p = self.position
        if p.state is PositionState.FLAT and not self.state.halted and not self.state.draining:
            self.adopt(seen)
        elif p.state is PositionState.OPEN:
            self.check_holding(seen)

    def balance_on_price(self, closed_now: bool) -> None:
        """A balance kept for the first price: use it now."""
        seen = self.state.balance
        if seen is None:
            return
        self.set(balance=None)
        if not closed_now and not self.state.in_flight:
            self.use_balance(seen)

    def adopt(self, seen: BalanceSeen) -> None:
        s, price = self.pair, self.state.last_price
        assert price is not None
        qty = adopt.adoptable(seen.free, price, s.settings, self.filters)
        if qty is None:
            return
        problem = self.stop_problem_at(price, qty)
        if problem != self.state.adopt_skipped:
            if problem is not None:
                self.log("adopt_skipped", "warning", qty=qty, price=price, problem=problem,
                         action="left alone; looked at again at each balance read")
            self.set(adopt_skipped=problem)
            self.effects.append(AdoptSkipped(reason=problem))
        if problem is not None:
            return
        position = adopt.adopted_position(s.settings.symbol, qty, price, self.state.last_time,
                                          self.filters)
        self.log("adopted", position_id=position.position_id, qty=qty, price=price,
                 free=seen.free, keep_qty=s.settings.keep_qty)
        self.set(entry_refusals=0, entry_retry_at=None, exit_executions=(), short=None)
        self.protect(position)

    def stop_problem_at(self, price: Decimal, qty: Decimal) -> str | None:
        """Why coins adopted at ``price`` could not be protected (None: they could): the
        stop an entry at that price would get breaks a filter, or would trigger at once."""
        levels = levels_at(price, self.pair.settings, self.filters.tick)
        fitted = fit_stop(levels, qty, self.filters, price)
        if would_trigger(fitted.levels.stop, price):
            return "its stop would trigger immediately"
        return fitted.problem

    def check_holding(self, seen: BalanceSeen) -> None:
        p, stop = self.position, self.state.stop_order
        held = self.remaining(p)
        if seen.free + seen.locked < held:
            # Its stop filled, or it was canceled and the coins sold: the venue knows which.
            self.set(short=seen.free + seen.locked)
            if stop is not None and stop.state is not OrderState.PENDING_NEW:
                self.log("balance_below_position", "warning", asset=seen.asset,
                         free=seen.free, locked=seen.locked, qty=held,
                         action="ask about the stop")
                self.query(stop)
            return
        self.set(short=None)
        if stop is None or not stop.state.is_open or p.triggered_at is not None:
            return
        price = self.state.last_price
        assert price is not None
        added = adopt.adoptable(seen.free, price, self.pair.settings, self.filters)
        if added is not None:
            self.top_up(stop, added, price)

    def top_up(self, stop: Order, added: Decimal, price: Decimal) -> None:
        qty = stop.qty + added
        levels = StopLevels(stop=stop.stop_price or self.position.stop or ZERO,
                            limit=stop.limit_price or ZERO)
        problem = stop_problem(levels, qty, self.filters)
        if problem is not None:
            self.log("top_up_not_sent", "warning", qty=qty, problem=problem)
            return
        position, new = adopt.plan_resize(self.position, stop, qty, self.pair.prefix)
        self.write(durable=True, positions=(position,), orders=(new,))
        self.set(position=position, topup_price=price)
        self.log("top_up", added=added, qty=qty, price=price, stop=stop.stop_price,
                 limit=stop.limit_price, trailing_delta=stop.trailing_delta)
        self.send(ReplaceStop(old=stop, new=new, gap=ZERO), new)

    def replaced_by(self, old: Order, new: Order) -> bool:
        """The venue holds ``new`` in place of ``old``: a top-up's larger stop (True), or a
        stop move (False; the caller books the move)."""
        if not adopt.is_resize(old, new):
            return False
        price = self.state.topup_price or self.state.last_price
        self.set(position=adopt.resized(self.position, new, price), topup_price=None)
        self.log("stop_resized", client_order_id=new.client_order_id, qty=new.qty,
                 entry_price=self.position.entry_price)
        return True

    # native stops on each price

    def trail_native(self, tick: Tick) -> None:
        stop = self.state.stop_order
        live = stop is not None and stop.state.is_open
        trail = self.state.trail if live and self.state.trail_of == stop.client_order_id \
            else None
        if live and trail is None:
            trail = native.mirror(self.position)  # tracks from this, the first price after
        before = self.position
        decision = native.on_price(before, tick, trail, self.pair.settings,
                                   self.filters.tick)
        self.set(position=decision.position, trail=decision.trail,
                 trail_of=stop.client_order_id if live else None)
        if decision.timeout_exit and live and not self.state.in_flight:
            self.begin_exit("timeout")
        elif decision.position.triggered_at != before.triggered_at:
            self.write(positions=(decision.position,))  # the timeout runs from here
