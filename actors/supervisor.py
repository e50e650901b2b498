"""Supervisor: boots everything in order, reconciles before any pair trades, restarts failed
pairs from the DB, applies config reloads, and shuts down in order (DESIGN.md §2).

pykka has no supervision: each PairActor's ``on_failure`` tells this actor, which restarts the
pair from the DB with backoff: up to 5 restarts in 10 minutes. The 6th failure in that window
halts the pair; its exchange stop stays in place.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pykka

from actors import recovery
from actors.conflation import TickSlot, tell_if_alive
from actors.db_writer import DBWriter
from actors.feed import SetTarget, SimulatedFeed, StreamFeed, Target, WalkSettings
from actors.gateway import Gateway
from actors.messages import (
    Boot,
    GetRealizedPnl,
    GetSnapshot,
    LoadState,
    OrderUpdated,
    PairFailed,
    RegisterPair,
    ReloadConfig,
    RestartPair,
    Shutdown,
    UnregisterPair,
)
from actors.pair import PairActor, PairWiring
from core.errors import InvariantViolation
from core.types import PairSettings, PositionState, SymbolFilters  # noqa: F401
from telemetry.logs import log_event

log = logging.getLogger("ratchet.supervisor")

MAX_RESTARTS = 5
RESTART_WINDOW_S = 600.0
STOP_TIMEOUT_S = 10.0


@dataclass(slots=True, kw_only=True)
class PairHandle:
    settings: PairSettings
    filters: SymbolFilters
    slot: TickSlot
    ref: pykka.ActorRef | None = None
    failures: deque = field(default_factory=deque)
    halted: bool = False


class Supervisor(pykka.ThreadingActor):
    def __init__(
        self, *, config: Any, exchange: Any, metrics: Any = None, password: str | None = None,
        start_feed: bool = True, on_trade: Any = None, clock=time.monotonic,
        on_fatal: Any = None,
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
        self.prefix = config.engine.client_id_prefix
        self.matches = hasattr(exchange, "on_price")
        self.db: pykka.ActorRef | None = None
        self.gateway: pykka.ActorRef | None = None
        self.feed: pykka.ActorRef | None = None
        self.pairs: dict[str, PairHandle] = {}
        self.report: recovery.RecoveryReport | None = None
        self.closing = threading.Event()

    # --- dispatch ---------------------------------------------------------------------------

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
            case ReloadConfig(config=config):
                return self._reload(config)
            case Shutdown():
                self._shutdown()
            case GetSnapshot():
                return {s: h.ref.ask(GetSnapshot(), timeout=5) if h.ref else None
                        for s, h in self.pairs.items()}
            case _:
                raise InvariantViolation(f"Supervisor got an unknown message {message!r}")

    # --- boot -------------------------------------------------------------------------------

    def _boot(self) -> dict:
        engine = self.config.engine
        self.db = DBWriter.start(engine.db_path, password=self.password,
                                 synchronous=engine.synchronous, metrics=self.metrics)
        for pair in self.config.pairs:
            self.pairs[pair.symbol] = PairHandle(
                settings=pair, filters=self.exchange.symbol_filters(pair.symbol),
                slot=TickSlot(pair.symbol))
        self.report = self._reconcile()
        self.gateway = Gateway.start(self.exchange, metrics=self.metrics,
                                     matches_prices=self.matches, closing=self.closing)
        gateway = self.gateway
        self.exchange.set_listener(
            lambda report: tell_if_alive(gateway, OrderUpdated(report=report)))
        for symbol in self.pairs:
            self._start_pair(symbol, confirmed_open=self.report.open_at_venue)
        self.exchange.start_streams()
        if self.start_feed:
            self.feed = self._start_feed()
        return {"actions": self.report.actions, "halted": self.report.halted,
                "errors": self.report.errors, "queried": self.report.queried}

    def _reconcile(self) -> recovery.RecoveryReport:
        return recovery.reconcile_with_db(
            self.exchange, self.db, settings={s: h.settings for s, h in self.pairs.items()},
            filters={s: h.filters for s, h in self.pairs.items()}, prefix=self.prefix,
            metrics=self.metrics)

    # --- pairs ------------------------------------------------------------------------------

    def _start_pair(self, symbol: str, confirmed_open: frozenset[str] = frozenset()) -> None:
        """Start (or restart) a pair from the DB. ``confirmed_open``: orders boot
        reconciliation has just seen open on the venue, which the pair need not ask about."""
        handle = self.pairs.get(symbol)
        if handle is None or handle.halted:
            return
        state = self.db.ask(LoadState(open_only=True, symbol=symbol), timeout=60)
        position = next((p for p in state.positions if p.state is not PositionState.FLAT), None)
        orders = tuple(o for o in state.orders if position and o.position_id ==
                       position.position_id)
        wiring = PairWiring(db_writer=self.db, gateway=self.gateway, slot=handle.slot,
                            prefix=self.prefix, supervisor=self.actor_ref, metrics=self.metrics,
                            on_trade=self.on_trade)
        realized = self.db.ask(GetRealizedPnl(symbol=symbol), timeout=60)
        handle.ref = PairActor.start(settings=handle.settings, filters=handle.filters,
                                     wiring=wiring, position=position, orders=orders,
                                     realized=realized, confirmed_open=confirmed_open)
        self.gateway.tell(RegisterPair(symbol=symbol, pair=handle.ref, slot=handle.slot))
        if self.feed is not None and not self.matches:
            self.feed.tell(SetTarget(symbol=symbol, target=self._feed_target(symbol)))

    def _pair_failed(self, symbol: str, error: str) -> None:
        handle = self.pairs.get(symbol)
        if handle is None:
            return
        now = self.clock()
        handle.failures.append(now)
        while handle.failures and now - handle.failures[0] > RESTART_WINDOW_S:
            handle.failures.popleft()
        if self.metrics is not None:
            self.metrics.actor_restart("pair")
        if len(handle.failures) > MAX_RESTARTS:
            handle.halted = True
            handle.ref = None
            log_event(log, "pair_halted", level=logging.ERROR, symbol=symbol, error=error,
                      failures=len(handle.failures), window_s=RESTART_WINDOW_S,
                      note="its exchange stop stays in place")
            if self.metrics is not None:
                self.metrics.pair(symbol).up(False)
                self.metrics.halted(symbol, True)
            return
        delay = min(0.1 * 2 ** (len(handle.failures) - 1), 5.0)
        log_event(log, "pair_failed", level=logging.WARNING, symbol=symbol, error=error,
                  restart=len(handle.failures), delay_s=delay)
        timer = threading.Timer(delay, self._tell_self, args=(RestartPair(symbol=symbol),))
        timer.daemon = True
        timer.start()

    def _fatal(self, reason: str) -> None:
        """The store cannot commit: stop trading everywhere; exchange stops stay in place."""
        log_event(log, "trading_halted", level=logging.ERROR, reason=reason,
                  note="exchange stops stay in place")
        for handle in self.pairs.values():
            handle.halted = True
            if self.metrics is not None:
                self.metrics.pair(handle.settings.symbol).up(False)
        if self.on_fatal is not None:
            self.on_fatal(reason)

    def _tell_self(self, message: Any) -> None:
        tell_if_alive(self.actor_ref, message)

    def _reload(self, config: Any) -> dict:
        """Start pairs for new symbols; stop removed ones (their stops stay on the venue)."""
        wanted = {p.symbol: p for p in config.pairs}
        added = [s for s in wanted if s not in self.pairs]
        removed = [s for s in self.pairs if s not in wanted]
        for symbol in removed:
            handle = self.pairs.pop(symbol)
            self.gateway.tell(UnregisterPair(symbol=symbol))
            if self.feed is not None:
                self.feed.tell(SetTarget(symbol=symbol, target=None))
            if handle.ref is not None:
                handle.ref.stop(block=True, timeout=STOP_TIMEOUT_S)
            if self.metrics is not None:
                self.metrics.remove_pair(symbol)
        self.config = config
        for symbol in added:
            pair = wanted[symbol]
            self.exchange.add_pair(pair)
            self.pairs[symbol] = PairHandle(settings=pair,
                                            filters=self.exchange.symbol_filters(symbol),
                                            slot=TickSlot(symbol))
            self._start_pair(symbol)
            if self.feed is not None:
                h = self.pairs[symbol]
                self.feed.tell(SetTarget(symbol=symbol, target=self._feed_target(symbol),
                                         start=self._start_price(symbol), tick=h.filters.tick))
        log_event(log, "config_reloaded", added=added, removed=removed)
        return {"added": added, "removed": removed}

    def _start_feed(self) -> pykka.ActorRef | None:
        kind = self.config.feed.kind
        targets = {s: self._feed_target(s) for s in self.pairs}
        if kind == "simulated":
            return SimulatedFeed.start(
                targets=targets, starts={s: self._start_price(s) for s in self.pairs},
                ticks={s: h.filters.tick for s, h in self.pairs.items()},
                settings=self._walk_settings(), metrics=self.metrics)
        if kind == "binance":
            from exchange.binance.market_data import stream_url_for

            ex = self.config.exchange
            return StreamFeed.start(targets=targets, testnet=ex.testnet, metrics=self.metrics,
                                    stream_url=ex.ws_url or stream_url_for(ex.base_url))
        return None  # replay: driven lock-step from the edge

    def _feed_target(self, symbol: str) -> Target:
        if self.matches:  # the venue matches in-process: prices go through the Gateway first
            slot = self.gateway.proxy().price_slot(symbol).get(timeout=10)
            return Target(slot=slot, consumer=self.gateway)
        handle = self.pairs[symbol]
        return Target(slot=handle.slot, consumer=handle.ref)

    def _start_price(self, symbol: str) -> Decimal:
        try:
            return self.exchange.last_price(symbol)
        except Exception:  # noqa: BLE001 - no price yet: start the walk from the config
            return self.config.feed.start_prices.get(symbol, Decimal(100))

    def _walk_settings(self) -> WalkSettings:
        feed = self.config.feed
        return WalkSettings(seed=feed.seed, interval_ms=feed.interval_ms,
                            volatility_pct=feed.volatility_pct, drift_pct=feed.drift_pct)

    # --- shutdown ---------------------------------------------------------------------------

    def _shutdown(self) -> None:
        if self.feed is not None:
            self.feed.stop(block=True, timeout=STOP_TIMEOUT_S)
        self.exchange.set_listener(None)
        for handle in self.pairs.values():
            if handle.ref is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    handle.ref.stop(block=True, timeout=STOP_TIMEOUT_S)
        if self.gateway is not None:
            self.closing.set()  # the Gateway skips whatever is still queued
            self.gateway.stop(block=True, timeout=STOP_TIMEOUT_S)
        if self.db is not None:
            self.db.stop(block=True, timeout=STOP_TIMEOUT_S)  # flushes last
        log_event(log, "shut_down", note="stop orders stay on the exchange")

