"""Supervisor: boots everything in order, reconciles before any pair trades, restarts failed
pairs and a failed Gateway, applies config reloads, and shuts down in order (DESIGN.md §2).

pykka has no supervision: each child's ``on_failure`` tells this actor. A pair restarts from
the DB with backoff, up to 5 times in 10 minutes; the 6th failure halts it (its stop stays). A
Gateway is replaced the same way: the pairs keep their state, send to the new one and ask again
about what the old one had in hand; past the budget the engine stops with exit 3.

Once a second it tells every pair the time (``TimePassed``), so timeouts and retries come due
when no price arrives (a quiet or closed market, a stalled feed).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from decimal import Decimal
from typing import Any

import pykka

from actors import recovery
from actors.conflation import TickSlot, tell_if_alive, tell_later
from actors.db_writer import DBWriter
from actors.feed import SetTarget, Target, start_feed
from actors.gateway import Gateway
from actors.messages import (
    BalancesUpdated,
    Boot,
    ClockTick,
    GatewayFailed,
    GetSnapshot,
    Maintain,
    OrderUpdated,
    PairDrained,
    PairFailed,
    Persist,
    ReloadConfig,
    RestartGateway,
    RestartPair,
    Shutdown,
    UnregisterPair,
    UseGateway,
)
from actors.pair import PairActor, PairWiring
from actors.restarts import RESTART_WINDOW_S, Budget, PairHandle
from core.adopt import check_adopting_pairs
from core.errors import ConfigError, InvariantViolation
from core.pair_state import Draining, TimePassed, halt_in_force, halt_key
from core.stop_mode import StopChoice, choose
from core.types import PairSettings
from exchange import policy
from telemetry.logs import log_event

log = logging.getLogger("ratchet.supervisor")

STOP_TIMEOUT_S = 10.0
CLOCK_EVERY_S = 1.0


class Supervisor(pykka.ThreadingActor):
    def __init__(
        self, *, config: Any, exchange: Any, metrics: Any = None, password: str | None = None,
        start_feed: bool = True, on_trade: Any = None, clock=time.monotonic,
        on_fatal: Any = None, market_data: Any = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.exchange = exchange
        self.metrics = metrics
        self.password = password
        self.start_feed = start_feed
        self.on_trade = on_trade
        self.clock = clock
        self.on_fatal = on_fatal  # callable(reason): the engine must stop (exit 3)
        self.market_data = market_data  # the Feed's source for [feed] kind = "binance"
        self.prefix = config.engine.client_id_prefix
        self.matches = hasattr(exchange, "on_price")
        self.db: pykka.ActorRef | None = None
        self.gateway: pykka.ActorRef | None = None
        self.gateway_failures = Budget()
        self.feed: pykka.ActorRef | None = None
        self.pairs: dict[str, PairHandle] = {}
        self.report: recovery.RecoveryReport | None = None
        self.closing = threading.Event()
        self.shutting_down = False

    def on_receive(self, message):
        match message:
            case Boot():
                return self._boot()
            case PairFailed(symbol=symbol, error=error, fatal=True):
                self._fatal(f"{symbol}: {error}")
            case PairFailed(symbol=symbol, error=error):
                self._pair_failed(symbol, error)
            case RestartPair(symbol=symbol):
                self._start_pair(symbol)
            case PairDrained(symbol=symbol):
                handle = self.pairs.get(symbol)
                if handle is not None and handle.draining:
                    self._remove_pair(symbol)
                    log_event(log, "pair_drained", symbol=symbol, note="removed from the config")
            case GatewayFailed(error=error):
                self._gateway_failed(error)
            case RestartGateway():
                self._replace_gateway()
            case ReloadConfig(config=config):
                return self._reload(config)
            case Shutdown():
                self._shutdown()
            case ClockTick():
                self._tick_clock()
            case GetSnapshot():
                return {s: h.snapshot() for s, h in self.pairs.items()}
            case _:
                raise InvariantViolation(f"Supervisor got an unknown message {message!r}")

    # --- boot -------------------------------------------------------------------------------

    def _boot(self) -> dict:
        engine = self.config.engine
        self.db = DBWriter.start(engine.db_path, password=self.password,
                                 synchronous=engine.synchronous, metrics=self.metrics)
        # The DB and the balances are read while the venue's filters still arrive.
        first = recovery.first_reads(self.exchange, self.db)
        policy.read(self.exchange.wait_ready)
        # Each pair's stop_mode line waits until every stop is protected: 1,000 lines cost
        # ~40 ms, and a kind that does not fit its symbol still stops the boot here.
        choices = [(pair.symbol, self._add_handle(pair)) for pair in self.config.pairs]
        check_adopting_pairs([(h.settings, h.filters) for h in self.pairs.values()])
        self.report = recovery.reconcile_with_db(
            self.exchange, self.db, settings={s: h.settings for s, h in self.pairs.items()},
            filters={s: h.filters for s, h in self.pairs.items()}, prefix=self.prefix,
            metrics=self.metrics, settings_for=self.config.settings_for, first=first)
        for symbol, choice in choices:
            _announce(symbol, choice)
        self._start_gateway()
        stored = recovery.load_pairs(self.db)  # one read for all, not two per pair
        halts = recovery.load_halts(self.db)
        self._drain_unconfigured(stored)
        for symbol in self.pairs:
            self._start_pair(symbol, confirmed_open=self.report.open_at_venue,
                             preloaded=stored.get(symbol), halt=halts.get(symbol, ""))
        self.exchange.start_streams()
        if self.start_feed:
            self.feed = self._start_feed()
        if self.config.feed.kind != "replay":  # replay's clock is its data's, lock-step
            tell_later(self.actor_ref, CLOCK_EVERY_S, ClockTick())
        return {"actions": self.report.actions, "halted": self.report.halted,
                "errors": self.report.errors, "queried": self.report.queried}

    def _drain_unconfigured(self, stored: dict[str, recovery.StoredPair]) -> None:
        """A position whose symbol no [[pairs]] entry names (removed while it held coins) gets
        a draining pair on the ``[defaults]``: it protects the position and buys nothing. One
        in ``[engine] abandon`` is left to its exchange stop."""
        for symbol, (position, _, _) in sorted(stored.items()):
            if position is None or symbol in self.pairs:
                continue
            if symbol in self.config.engine.abandon:
                log_event(log, "pair_abandoned", level=logging.WARNING, symbol=symbol,
                          position_id=position.position_id,
                          note="its stop stays on the exchange, unmanaged")
                continue
            settings = self.config.settings_for(symbol)
            self.exchange.add_pair(settings)
            _announce(symbol, self._add_handle(settings))
            self.pairs[symbol].draining = True

    def _add_handle(self, pair: PairSettings) -> StopChoice:
        """The pair's handle, once its stop kind fits its symbol (``ConfigError`` if not);
        returns that kind, for the caller's ``stop_mode`` line."""
        filters = self.exchange.symbol_filters(pair.symbol)
        choice = choose(pair, filters)
        self.pairs[pair.symbol] = PairHandle(settings=pair, filters=filters,
                                             slot=TickSlot(pair.symbol))
        return choice

    # --- the Gateway ------------------------------------------------------------------------

    def _start_gateway(self) -> None:
        self.gateway = gateway = Gateway.start(
            self.exchange, metrics=self.metrics, matches_prices=self.matches,
            closing=self.closing, supervisor=self.actor_ref,
            priority=self.config.engine.order_priority)
        self.exchange.set_listener(
            lambda report: tell_if_alive(gateway, OrderUpdated(report=report)))
        self.exchange.set_balance_listener(
            lambda balances: tell_if_alive(gateway, BalancesUpdated(balances=tuple(balances))))
        self.exchange.set_waker(lambda: tell_if_alive(gateway, Maintain()))

    def _gateway_failed(self, error: str) -> None:
        if self.shutting_down:
            return
        count = self.gateway_failures.fail(self.clock())
        if self.metrics is not None:
            self.metrics.actor_restart("gateway")
        if self.gateway_failures.over():
            self._fatal(f"the Gateway failed {count} times in {RESTART_WINDOW_S:.0f} s: {error}")
            return
        delay = self.gateway_failures.delay_s()
        log_event(log, "gateway_restart", level=logging.WARNING, error=error, restart=count,
                  delay_s=delay)
        tell_later(self.actor_ref, delay, RestartGateway())

    def _replace_gateway(self) -> None:
        self._start_gateway()
        for symbol, handle in self.pairs.items():
            if handle.ref is not None:
                tell_if_alive(handle.ref, UseGateway(gateway=self.gateway))
            if self.feed is not None and self.matches:
                self.feed.tell(SetTarget(symbol=symbol, target=self._feed_target(symbol)))

    # --- pairs ------------------------------------------------------------------------------

    def _start_pair(self, symbol: str, confirmed_open: frozenset[str] = frozenset(),
                    preloaded: recovery.StoredPair | None = None,
                    halt: str | None = None) -> None:
        """Start (or restart) a pair from the DB (``preloaded`` and ``halt``: its position,
        orders and P&L, and its stored halt, read once for all pairs at boot); it need not ask
        about ``confirmed_open``."""
        handle = self.pairs.get(symbol)
        if handle is None or handle.halted:
            return
        position, orders, realized = preloaded or recovery.load_pair(self.db, symbol)
        record = recovery.load_halt(self.db, symbol) if halt is None else halt
        reason = halt_in_force(record, handle.settings)
        if record and reason is None:  # its settings changed since: the halt is lifted
            log_event(log, "halt_lifted", symbol=symbol, note="the pair's settings changed")
            self.db.tell(Persist(kv=((halt_key(symbol), ""),)))
        wiring = PairWiring(db_writer=self.db, gateway=self.gateway, slot=handle.slot,
                            prefix=self.prefix, supervisor=self.actor_ref, metrics=self.metrics,
                            on_trade=self.on_trade)
        handle.ref = PairActor.start(settings=handle.settings, filters=handle.filters,
                                     wiring=wiring, position=position, orders=orders,
                                     realized=realized, confirmed_open=confirmed_open,
                                     draining=handle.draining, halt=reason)
        if self.feed is not None and not self.matches:
            self.feed.tell(SetTarget(symbol=symbol, target=self._feed_target(symbol)))

    def _pair_failed(self, symbol: str, error: str) -> None:
        handle = self.pairs.get(symbol)
        if handle is None:
            return
        count = handle.failures.fail(self.clock())
        if self.metrics is not None:
            self.metrics.actor_restart("pair")
        if handle.failures.over():
            handle.halted, handle.ref = True, None
            log_event(log, "pair_halted", level=logging.ERROR, symbol=symbol, error=error,
                      failures=count, window_s=RESTART_WINDOW_S,
                      note="its exchange stop stays in place")
            if self.metrics is not None:
                self.metrics.pair(symbol).up(False)
                self.metrics.halted(symbol, True)
            return
        delay = handle.failures.delay_s()
        log_event(log, "pair_failed", level=logging.WARNING, symbol=symbol, error=error,
                  restart=count, delay_s=delay)
        tell_later(self.actor_ref, delay, RestartPair(symbol=symbol))

    def _fatal(self, reason: str) -> None:
        """The store cannot commit, or the Gateway keeps dying: stop trading everywhere."""
        log_event(log, "trading_halted", level=logging.ERROR, reason=reason,
                  note="exchange stops stay in place")
        for handle in self.pairs.values():
            handle.halted = True
            if self.metrics is not None:
                self.metrics.pair(handle.settings.symbol).up(False)
        if self.on_fatal is not None:
            self.on_fatal(reason)

    def _reload(self, config: Any) -> dict:
        """Start pairs for new symbols. A removed pair drains: it keeps protecting its
        position, buys nothing, and is stopped once flat (``PairDrained``); one named in
        ``[engine] abandon`` is stopped at once, its stop left on the venue, unmanaged."""
        wanted = {p.symbol: p for p in config.pairs}
        added = [s for s in wanted if s not in self.pairs]
        removed = [s for s in self.pairs if s not in wanted and not self.pairs[s].draining]
        self.config = config
        for symbol in removed:
            handle = self.pairs[symbol]
            if symbol in config.engine.abandon or handle.ref is None:
                self._remove_pair(symbol)
                continue
            handle.draining = True
            tell_if_alive(handle.ref, Draining(on=True))
        for symbol in [s for s in wanted if s in self.pairs and self.pairs[s].draining]:
            self.pairs[symbol].draining = False  # back in the config before it drained
            if self.pairs[symbol].ref is not None:
                tell_if_alive(self.pairs[symbol].ref, Draining(on=False))
        for symbol in list(added):
            self.exchange.add_pair(wanted[symbol])
            try:
                _announce(symbol, self._add_handle(wanted[symbol]))
                check_adopting_pairs([(h.settings, h.filters) for h in self.pairs.values()])
            except ConfigError as exc:  # the rest of the reload goes ahead
                self.pairs.pop(symbol, None)
                added.remove(symbol)
                log_event(log, "config_reload_refused", level=logging.ERROR, symbol=symbol,
                          error=str(exc))
                continue
            self._start_pair(symbol)
            if self.feed is not None:
                self.feed.tell(SetTarget(symbol=symbol, target=self._feed_target(symbol),
                                         start=self._start_price(symbol),
                                         tick=self.pairs[symbol].filters.tick))
        log_event(log, "config_reloaded", added=added, removed=removed)
        return {"added": added, "removed": removed}

    def _remove_pair(self, symbol: str) -> None:
        """Stop a pair for good: its routes, its prices and its metrics go too."""
        handle = self.pairs.pop(symbol)
        self.gateway.tell(UnregisterPair(symbol=symbol))
        if self.feed is not None:
            self.feed.tell(SetTarget(symbol=symbol, target=None))
        if handle.ref is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                handle.ref.stop(block=True, timeout=STOP_TIMEOUT_S)
        if self.metrics is not None:
            self.metrics.remove_pair(symbol)

    def _tick_clock(self) -> None:
        if self.shutting_down:
            return
        now = TimePassed(ts=Decimal(time.time_ns()) / 1_000_000_000)
        for handle in self.pairs.values():
            if handle.ref is not None:
                tell_if_alive(handle.ref, now)
        tell_later(self.actor_ref, CLOCK_EVERY_S, ClockTick())

    # --- the Feed ---------------------------------------------------------------------------

    def _start_feed(self) -> pykka.ActorRef | None:
        return start_feed(self.config.feed, targets={s: self._feed_target(s) for s in self.pairs},
                          starts=self._start_prices(list(self.pairs)),
                          ticks={s: h.filters.tick for s, h in self.pairs.items()},
                          metrics=self.metrics, market_data=self.market_data)

    def _feed_target(self, symbol: str) -> Target:
        if self.matches:  # the venue matches in-process: prices go through the Gateway first
            slot = self.gateway.proxy().price_slot(symbol).get(timeout=10)
            return Target(slot=slot, consumer=self.gateway)
        handle = self.pairs[symbol]
        return Target(slot=handle.slot, consumer=handle.ref)

    def _start_price(self, symbol: str) -> Decimal:
        return self._start_prices([symbol])[symbol]

    def _start_prices(self, symbols: list[str]) -> dict[str, Decimal]:
        """Where each symbol's feed starts: its last price on the venue, all in one request
        (at boot one per pair took 22 s for 1,000 pairs at 20 ms), else the config's."""
        try:
            prices = self.exchange.last_prices(symbols) if symbols else {}
        except Exception:  # noqa: BLE001 - no price yet: start the walk from the config
            prices = {}
        return {s: prices.get(s) or self.config.feed.start_prices.get(s, Decimal(100))
                for s in symbols}

    # --- shutdown ---------------------------------------------------------------------------

    def _shutdown(self) -> None:
        self.shutting_down = True  # a Gateway that dies now is not replaced
        if self.feed is not None:
            self.feed.stop(block=True, timeout=STOP_TIMEOUT_S)
        self.exchange.set_listener(None)
        self.exchange.set_balance_listener(None)
        self.exchange.set_waker(None)
        for handle in self.pairs.values():
            if handle.ref is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    handle.ref.stop(block=True, timeout=STOP_TIMEOUT_S)
        if self.gateway is not None:
            # The pairs are stopped, so every intent is on disk; the Gateway now skips what is
            # still queued but a stop or a sale, which protect a position (a sale follows a
            # stop it canceled), so stop() is not stuck behind a backlog of moves.
            self.closing.set()
            with contextlib.suppress(pykka.ActorDeadError):
                self.gateway.stop(block=True, timeout=STOP_TIMEOUT_S)
        if self.db is not None:
            self.db.stop(block=True, timeout=STOP_TIMEOUT_S)  # flushes last
        log_event(log, "shut_down", note="stop orders stay on the exchange")


def _announce(symbol: str, choice: StopChoice) -> None:
    log_event(log, "stop_mode", symbol=symbol, native=choice.native,
              trailing_delta=choice.delta, reason=choice.reason)
