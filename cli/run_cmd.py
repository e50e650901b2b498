"""``ratchet run``: boot the engine and trade until SIGTERM/SIGINT. SIGHUP reloads ``[[pairs]]``;
SIGUSR1 logs every thread's traceback.

When stderr is a terminal and ``--log-format`` is not given, a live table (cli/live_view.py)
takes the place of the status lines, and the structured logs go to a rotated file
(``--log-file``, default: the DB's path with ``.log``, so ``var/ratchet.db`` logs to
``var/ratchet.log`` and a sim engine's ``var/ratchet-sim.db`` to ``var/ratchet-sim.log``).
Otherwise logs go to stderr and a status line per pair is printed every ``status_interval_s``.

In binance mode the first-run plan (cli/plan.py, as ``ratchet preflight`` prints it) is printed
before the Supervisor boots: what each pair will do with what the account holds.

The metrics port in use is one line naming it and the key to change, exit 2: a person must
stop the other engine or choose another port (a restart cannot). SIGINT (Ctrl-C) and SIGTERM
stop in order and print one closing line: the positions left under their exchange stops and
the realized P&L per quote asset; exit 0.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pykka
import pykka.debug

from cli.common import (
    build_exchange,
    build_market_data,
    check_live_safety,
    venue_url,
)
from cli.main import add_config_arg
from cli.numbers import PLAIN, SymbolFormat, money
from core.config import load_config, redacted
from core.errors import (
    InputError,
    RatchetError,
    RetryableVenueError,
    StatusUnknown,
    StorageFailed,
    VenueUnreachable,
)
from exchange import policy
from persistence.db import acquire_lock, db_password_from_env, open_database
from telemetry.endpoint import EngineIdentity
from telemetry.logs import configure_file_logging, configure_logging, log_event
from telemetry.metrics import Metrics

if TYPE_CHECKING:  # the live view (rich, 15 ms) loads only when stderr is a terminal
    from cli.live_view import EventTap

log = logging.getLogger("ratchet.run")

BOOT_TIMEOUT_S = 600


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="trade: boot, reconcile, then keep every stop trailing")
    add_config_arg(p)
    p.add_argument("--live", action="store_true",
                   help="allow real money (also needs [exchange] live = true)")
    p.add_argument("--log-format", choices=("kv", "json"),
                   help="log lines as key=value (default) or JSON")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="stop by itself after this many seconds (demos, tests)")
    p.add_argument("--log-file", metavar="PATH",
                   help="with the live view (stderr a terminal, no --log-format): where the "
                        "logs go, rotated (default: the DB's path with .log)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Boot allocates a few hundred thousand objects that live on (filters, positions, actors)
    # and makes little cyclic garbage; the collector's passes over them were 35 ms of a
    # 0.55 s boot with 1,000 pairs (bench/sim_bench.py). It runs again once boot is done.
    gc.disable()
    try:
        return _run(args)
    finally:
        gc.enable()


def _run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    reload = threading.Event()
    _install_signals(stop, reload)
    cfg = load_config(args.config)
    tap = _configure_logs(args, cfg)
    check_live_safety(cfg, live_flag=args.live)
    password = db_password_from_env()
    lock = acquire_lock(cfg.engine.db_path)  # creates the DB's folder, or says why not
    try:
        metrics = Metrics()
        serve_metrics(metrics, cfg)  # before the DB is opened: a busy port changes nothing
        try:
            open_database(cfg.engine.db_path, password=password,
                          synchronous=cfg.engine.synchronous).close()  # refuse bad DBs up front
        except BaseException:
            metrics.stop()
            raise
        return _run_locked(cfg, args, password, stop, reload, tap, metrics)
    finally:
        lock.release()
        if tap is not None:
            logging.getLogger().removeHandler(tap)


def serve_metrics(metrics: Metrics, cfg) -> None:
    """``/metrics``, ``/healthz`` and ``/status`` on ``[engine] metrics_host:metrics_port``;
    a port in use, or a host that is not this machine's, is one line naming the key."""
    host, port = cfg.engine.metrics_host, cfg.engine.metrics_port
    metrics.identity = EngineIdentity(
        db_path=str(cfg.engine.db_path.resolve()), mode=cfg.engine.mode.value,
        prefix=cfg.engine.client_id_prefix, config=str(Path(cfg.source).resolve()))
    try:
        metrics.serve(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise InputError(f"metrics port {port} on {host} is already in use (another "
                             f"engine?): stop it, or set [engine] metrics_port in "
                             f"{cfg.source} to a free port") from None
        raise InputError(f"cannot serve metrics on {host}:{port} ({exc.strerror or exc}): "
                         f"check [engine] metrics_host and metrics_port in {cfg.source}") \
            from None


def _configure_logs(args: argparse.Namespace, cfg) -> EventTap | None:
    """Logs to stderr as always, or, for the live view, to the log file; then the view's tap."""
    fmt = args.log_format or cfg.engine.log_format
    if args.log_format is not None or not sys.stderr.isatty():
        configure_logging(fmt)
        return None
    path = Path(args.log_file) if args.log_file else log_path_of(cfg.engine.db_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        configure_file_logging(path, fmt)
    except OSError as exc:
        raise InputError(f"cannot write the log file {path}: {exc.strerror}") from None
    from cli.live_view import EventTap

    tap = EventTap()
    logging.getLogger().addHandler(tap)
    return tap


def log_path_of(db_path: Path) -> Path:
    """The live view's log file: the DB's path with ``.log`` (``var/ratchet.db`` →
    ``var/ratchet.log``), so engines on different DBs never share one."""
    return db_path.with_suffix(".log")


def _run_locked(cfg, args, password, stop: threading.Event, reload: threading.Event,
                tap: EventTap | None, metrics: Metrics) -> int:
    exchange = None
    try:
        exchange = build_exchange(cfg, metrics=metrics)
        # A wrong key or secret stops here (one line, exit 2); a lost answer is asked again.
        # The engine's own modules (the actors: 50 ms) load while connect waits on the venue.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="connect") as pool:
            connected = pool.submit(policy.read, exchange.connect)
            from actors.messages import Boot, Shutdown
            from actors.supervisor import Supervisor
            try:
                warnings = connected.result()
            except (StatusUnknown, RetryableVenueError) as exc:  # a restart later may help
                raise VenueUnreachable(f"the venue at {venue_url(cfg)} did not answer: "
                                       f"{exc}") from None
        for warning in warnings:
            log_event(log, "exchange_warning", level=logging.WARNING, warning=warning)
        format_of = formats_of(exchange)
        booted = threading.Event()  # /status names formats once the venue's filters are in
        metrics.identity = replace(metrics.identity, symbols=lambda: {
            pm.symbol: _format_strings(format_of(pm.symbol)) for pm in metrics.pairs()
        } if booted.is_set() else {})
        if cfg.engine.mode.value == "binance":
            _print_plan(cfg, exchange)
    except BaseException:
        metrics.stop()
        if exchange is not None:
            exchange.close()
        raise
    fatal: list[str] = []

    def on_fatal(reason: str) -> None:
        fatal.append(reason)
        stop.set()

    # Each pair's settings differ from [defaults] only where its [[pairs]] entry says so; the
    # line names the pairs (the full settings of 1,000 pairs would be a 300 KB line at boot).
    log_event(log, "config", config=redacted(cfg, pair_settings=False))
    stopped = False
    market_data = build_market_data(cfg, rest_prices=exchange.last_prices) \
        if cfg.feed.kind.value == "binance" else None
    supervisor = Supervisor.start(config=cfg, exchange=exchange, metrics=metrics,
                                  password=password, on_fatal=on_fatal,
                                  market_data=market_data)
    try:
        report = supervisor.ask(Boot(), timeout=BOOT_TIMEOUT_S)
        booted.set()
        gc.enable()
        metrics.health.trading()  # /healthz: 200 from here while every pair trades
        print(f"ratchet: {cfg.engine.mode.value} mode, {len(cfg.pairs)} pairs, "
              f"db {cfg.engine.db_path}, metrics http://{cfg.engine.metrics_host}:"
              f"{metrics.port}/metrics, reconciled: {reconciled(report['actions'])}",
              flush=True)
        deadline = time.monotonic() + args.duration if args.duration else None
        interval = float(cfg.engine.status_interval_s)  # display: a sleep interval
        next_status = time.monotonic() + interval
        view = contextlib.nullcontext() if tap is None else _live_view(
            metrics, supervisor, tap, title=f"ratchet: {cfg.engine.mode.value} mode, "
            f"{len(cfg.pairs)} pairs, Ctrl-C stops (stops stay on the exchange)",
            format_of=format_of)
        with view:
            while not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if reload.is_set():
                    reload.clear()
                    _reload(supervisor, args.config)
                stop.wait(0.2)
                if tap is not None:
                    view.refresh()
                elif time.monotonic() >= next_status:
                    next_status += interval
                    _print_status(supervisor)
        if fatal:
            raise StorageFailed(f"trading halted, exchange stops left in place: {fatal[0]}")
        stopped = True
        return 0
    finally:
        metrics.health.stopping()
        try:
            supervisor.ask(Shutdown(), timeout=60)
        finally:
            pykka.ActorRegistry.stop_all(timeout=10)
            exchange.close()
            metrics.stop()
            if stopped:
                print(closing_line(metrics, format_of), flush=True)


def reconciled(actions: dict[str, int]) -> str:
    """Boot reconciliation's actions in words: ``2 keep stop, 1 replace stop`` or
    ``nothing to do``."""
    done = [f"{n} {kind.replace('_', ' ')}" for kind, n in actions.items() if n]
    return ", ".join(done) if done else "nothing to do"


def closing_line(metrics: Metrics, format_of=lambda symbol: PLAIN) -> str:
    """What a person needs after Ctrl-C: which positions stay under their exchange stops
    (and any without one), and the realized P&L per quote asset."""
    held, bare = [], []
    realized: dict[str, Decimal] = {}
    for pm in sorted(metrics.pairs(), key=lambda p: p.symbol):
        qty = pm.state[3]
        if qty:
            (bare if pm.is_unprotected else held).append(pm.symbol)
        quote = pm.quote or _quote_of(format_of, pm.symbol)
        realized[quote] = realized.get(quote, Decimal(0)) + pm.realized_pnl
    parts = [f"{len(held)} position(s) left under their exchange stops"
             + (f" ({', '.join(held[:8])}{', ...' if len(held) > 8 else ''})" if held else "")]
    if bare:
        parts.append(f"{len(bare)} WITHOUT a stop ({', '.join(bare[:8])}): the next start "
                     "protects them")
    pnl = ", ".join(money(v, q) for q, v in sorted(realized.items())) or "0.00"
    return f"ratchet: stopped; {'; '.join(parts)}; realized P&L {pnl}"


def _quote_of(format_of, symbol: str) -> str:
    try:
        return format_of(symbol).quote
    except Exception:  # noqa: BLE001 - display only
        return ""


def formats_of(exchange) -> Callable[[str], SymbolFormat]:
    """Each symbol's tick, step and quote asset from the venue's filters (paper: the config's),
    read once per symbol; a symbol the venue cannot describe reads as plain numbers."""
    cache: dict[str, SymbolFormat] = {}

    def format_of(symbol: str) -> SymbolFormat:
        found = cache.get(symbol)
        if found is None:
            try:
                f = exchange.symbol_filters(symbol)
                found = SymbolFormat(tick=f.tick, step=f.step, quote=f.quote_asset)
            except Exception:  # noqa: BLE001 - display only; asked once
                found = PLAIN
            cache[symbol] = found
        return found

    return format_of


def _format_strings(number: SymbolFormat) -> dict[str, str]:
    return {"tick": "" if number.tick is None else str(number.tick),
            "step": "" if number.step is None else str(number.step), "quote": number.quote}


def _print_plan(cfg, exchange) -> None:
    """Binance mode: what the first run will do, pair by pair, before anything is sent."""
    from cli.preflight_cmd import plan_for_run

    try:
        plan_for_run(cfg, exchange, lambda text: print(text, flush=True))
    except Exception as exc:  # noqa: BLE001 - the plan informs; boot decides and says why
        log_event(log, "plan_unavailable", level=logging.WARNING, error=str(exc))


def _reload(supervisor: pykka.ActorRef, path: str) -> None:
    try:
        cfg = load_config(path)
    except RatchetError as exc:  # a bad reload keeps the running config
        log_event(log, "config_reload_refused", level=logging.ERROR, error=str(exc))
        return
    from actors.messages import ReloadConfig

    supervisor.ask(ReloadConfig(config=cfg), timeout=60)


def _print_status(supervisor: pykka.ActorRef) -> None:
    from actors.messages import GetSnapshot

    try:
        snapshots = supervisor.ask(GetSnapshot(), timeout=5)
    except Exception as exc:  # noqa: BLE001 - a status line must never stop the engine
        log_event(log, "status_unavailable", level=logging.WARNING, error=str(exc))
        return
    for symbol, snap in sorted(snapshots.items()):
        if snap is None:
            print(f"{symbol:<10} halted", flush=True)
            continue
        p = snap["position"]
        print(f"{symbol:<10} price={snap['last_price'] or '-'} state={p.state.value} "
              f"qty={p.qty} highest={p.highest or '-'} stop={p.stop or '-'} "
              f"moves={p.stop_moves} realized={snap['realized']}", flush=True)


def _install_signals(stop: threading.Event, reload: threading.Event) -> None:
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload.set())
    signal.signal(signal.SIGUSR1, pykka.debug.log_thread_tracebacks)


def _live_view(*args, **kwargs):
    from cli.live_view import LiveView

    return LiveView(*args, **kwargs)
