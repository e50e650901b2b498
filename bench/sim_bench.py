"""Binance-mode benchmarks against the sim (issue 4), each figure beside its baseline, measured
in the same run. The sim is a ``ratchet sim-exchange`` subprocess; requests go through
python-binance over loopback.

- ``boot_to_protected_s``: 1,000 open positions (their stops on the sim, 10 of them canceled
  while the engine was down) and the sim at 20 ms a request. From the start of the
  ``ratchet run`` process until boot reconciliation has every position's stop confirmed open
  (the ``reconciled`` log line: one all-symbol openOrders call, queries only for the stops not
  open, new stops for those). Median of ``repeats`` boots, each after 10 stops were canceled
  again (so every boot has the same work), after one uncounted boot that fills the bytecode
  cache (a deployed engine has one; ``PYTHONDONTWRITEBYTECODE`` is lifted for the engine).
  Split: ``to_config_s`` (imports, config, DB check, connect: the ``config`` log line),
  ``to_reconcile_s`` (then the Supervisor and the DBWriter), ``reconcile_s`` (from its first
  reads, the DB and the balances, which go out while exchangeInfo still arrives).
  Baseline: the naive way, one order query per position (``naive_queries_s``, timed through
  the same adapter) plus the same process start (``process_start_s``). The sim's weight limit
  is raised for this one, so the runs do not wait on each other's weight. Also printed: when
  the boot line came (every PairActor started) and the GET order requests sent in the
  ``settle_s`` after it.
- ``gateway_order_ops_per_s``: cancelReplace stop moves the Gateway actor completes per
  second, with ``movers`` symbols always wanting a move, at 0 and 20 ms latency. With the
  sim's order limits raised (``limits = raised``) against the adapter called in a plain loop
  (the actor's overhead), and with the sim's default limits (100 orders per 10 s), where the
  Gateway keeps under its order budget: ``rate_limited`` counts 429s (must be 0).

``RATCHET_BENCH_QUICK=1`` shrinks every size (a smoke run; its figures mean little).
``RATCHET_BENCH_DIR`` chooses where the temp files go.
"""

from __future__ import annotations

import os
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pykka

from actors.gateway import Gateway
from actors.messages import RegisterPair, ReplaceStop, StopReplaced
from bench import emit, run_in_workdir
from bench import sim_harness as harness
from bench.budget_fleet import VenueCounter
from bench.sim_fleet import SETTINGS, Fleet
from core.types import Order, OrderState
from exchange.binance import BinanceExchange

BENCH = "sim"
LATENCY_MS = 20
BOOT_TARGET_S = 0.5
TICK = Decimal("0.01")
DEFAULT_ORDERS_10S = 100  # ratchet sim-exchange --orders-10s default


@dataclass(frozen=True, slots=True)
class Sizes:
    positions: int = 1000
    canceled: int = 10
    repeats: int = 3  # engine boots (the median is printed)
    settle_s: float = 5.0  # how long to watch the engine after its boot line
    movers: int = 10
    ops_seconds: float = 5.0
    default_limit_seconds: float = 20.0  # whole 10 s order windows (the sim's are fixed)


QUICK = Sizes(positions=40, canceled=2, repeats=1, settle_s=1.0, movers=4, ops_seconds=1.0,
              default_limit_seconds=10.0)


def _emit(**fields) -> dict:
    return emit(bench=BENCH, **fields, load_1m=os.getloadavg()[0])


# --- boot to every position protected -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Boot:
    reconciled_s: float  # process start → reconcile done: every stop confirmed open
    reconcile_s: float  # the reconcile itself, as the engine logged it
    config_s: float  # process start → the config log line (imports, config, DB, connect)
    boot_line_s: float  # process start → "ratchet: binance mode ..." (every pair started)
    queries_after_boot: int  # GET order requests in the settle_s after the boot line
    requests: dict[str, int]  # during reconcile, up to the reconciled line


def _watch_boot(config: Path, sim, settle_s: float, timeout_s: float = 120) -> Boot:
    log = config.parent / "engine.log"
    log.unlink(missing_ok=True)
    sim.reset_requests()
    started, wall = time.perf_counter(), time.time()
    proc = harness.start_engine(config)
    seen, marks, requests = "", {}, {}
    try:
        with log.open() as f:
            while "boot" not in marks:
                if time.perf_counter() - started > timeout_s or proc.poll() is not None:
                    raise RuntimeError(f"engine did not boot:\n{seen + f.read()}")
                seen += f.read()
                if "reconciled" not in marks and "event=reconciled" in seen:
                    marks["reconciled"] = time.perf_counter() - started
                    requests = sim.requests()
                if "ratchet: binance mode" in seen:
                    marks["boot"] = time.perf_counter() - started
                time.sleep(0.005)
        before = sim.requests().get(harness.ORDER_GET, 0)
        time.sleep(settle_s)
        after = sim.requests().get(harness.ORDER_GET, 0)
    finally:
        out = harness.stop_engine(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"engine exited {proc.returncode}:\n{out[-3000:]}")
    line = next(x for x in out.splitlines() if "event=reconciled" in x)
    reconcile_s = float(line.rsplit("duration_s=", 1)[1].split()[0])
    config_line = next(x for x in out.splitlines() if "event=config " in x)
    return Boot(reconciled_s=_logged_at(line) - wall, reconcile_s=reconcile_s,
                config_s=_logged_at(config_line) - wall, boot_line_s=marks["boot"],
                queries_after_boot=after - before, requests=requests)


def _logged_at(line: str) -> float:
    """The epoch time of a kv log line (``ts=2026-01-02T03:04:05.678Z``), to the millisecond."""
    stamp = line.split("ts=", 1)[1].split()[0].replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


def _cancel_while_down(sim, db_path: Path, symbols: list[str]) -> None:
    """Cancel on the sim the live stop of each of ``symbols``, as if it went while down."""
    positions = harness.open_positions(db_path)
    for symbol in symbols:
        sim.control("POST", "/sim/cancel", {"symbol": symbol,
                                            "origClientOrderId": positions[symbol].stop_order_id})


@contextmanager
def _bytecode_cache(directory: Path):
    """Engines started meanwhile write and reuse compiled bytecode under ``directory``."""
    saved = {k: os.environ.get(k) for k in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(directory)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _naive_queries(sim, fleet: Fleet) -> float:
    """The naive way: one GET order per position, through the same adapter, one at a time."""
    exchange = sim.exchange(key=harness.API_KEY, secret=harness.API_SECRET,
                            symbols=fleet.symbols, timeout_s="5")
    try:
        exchange.symbol_filters(fleet.symbols[0])  # exchangeInfo, outside the timing
        began = time.perf_counter()
        for n in range(fleet.size):
            stop = fleet.position(n)[1]
            exchange.get_order(symbol=stop.symbol, client_order_id=stop.client_order_id)
        return time.perf_counter() - began
    finally:
        exchange.close()


def boot_to_protected(sizes: Sizes, workdir: Path) -> dict:
    fleet = Fleet(size=sizes.positions, canceled=sizes.canceled)
    directory = workdir / "boot"
    directory.mkdir()
    # Weight limit raised: the repeated boots and the baseline's 1,000 queries (weight 4,000)
    # share a minute here and must not wait on each other's weight.
    sim = harness.start_sim(directory, *fleet.sim_args(), "--weight-1m", "100000000",
                            latency_ms=LATENCY_MS)
    try:
        fleet.prepare(directory / "ratchet.db", sim)
        config = harness.write_config(directory, sim.url, fleet.symbols, defaults=SETTINGS)
        canceled = fleet.symbols[:fleet.canceled]
        boots = []
        with _bytecode_cache(workdir / "pycache"):
            for n in range(sizes.repeats + 1):
                if n:  # the first boot only fills the bytecode cache
                    _cancel_while_down(sim, directory / "ratchet.db", canceled)
                boots.append(_watch_boot(config, sim, sizes.settle_s if n else 0.2))
        first, boots = boots[1], boots[1:]
        protected = len(harness.open_on_sim(sim))
        naive_s = _naive_queries(sim, fleet)
    finally:
        sim.stop()
    if protected != fleet.size:
        raise RuntimeError(f"{protected} of {fleet.size} stops open after boot")
    value = statistics.median(b.reconciled_s for b in boots)
    process_start_s = statistics.median(b.reconciled_s - b.reconcile_s for b in boots)
    return _emit(
        metric="boot_to_protected_s", value=value, unit="s",
        baseline=process_start_s + naive_s, better="lower", positions=fleet.size,
        latency_ms=LATENCY_MS, repeats=sizes.repeats, target=f"<= {BOOT_TARGET_S}",
        boots_s=[round(b.reconciled_s, 3) for b in boots],
        to_config_s=statistics.median(b.config_s for b in boots),
        to_reconcile_s=statistics.median(b.reconciled_s - b.reconcile_s - b.config_s
                                         for b in boots),
        reconcile_s=statistics.median(b.reconcile_s for b in boots),
        process_start_s=process_start_s, naive_queries_s=naive_s, canceled=fleet.canceled,
        boot_line_s=statistics.median(b.boot_line_s for b in boots),
        first_boot_requests=first.requests,
        order_queries_after_boot=[b.queries_after_boot for b in boots],
        settle_s=sizes.settle_s,
    )


# --- order operations per second through the Gateway ----------------------------------------


@dataclass(frozen=True, slots=True)
class StartMoving:
    pass


@dataclass(frozen=True, slots=True)
class CountMoves:
    stop: bool = False  # and send no further move


class Mover(pykka.ThreadingActor):
    """Stands in for the PairActors: as soon as a symbol's move comes back, it asks for the
    next one (one tick higher), so every symbol always has a move waiting at the Gateway."""

    def __init__(self, gateway: pykka.ActorRef, stops: dict[str, Order]) -> None:
        super().__init__()
        self.gateway = gateway
        self.stops = dict(stops)
        self.seq = dict.fromkeys(stops, 2)
        self.moved = 0
        self.failed = 0
        self.running = True

    def on_receive(self, message):
        match message:
            case StartMoving():
                for symbol in self.stops:
                    self._move(symbol)
            case CountMoves(stop=stop):
                self.running = self.running and not stop
                return self.moved, self.failed
            case StopReplaced(old=old, new=new, report=report):
                if report.new is not None and report.canceled is not None:
                    self.moved += 1
                    self.stops[new.symbol] = new.replace(state=OrderState.NEW)
                else:  # a half failed: count it, and carry on from the old stop
                    self.failed += 1
                    self.stops[new.symbol] = old
                if self.running:
                    self._move(new.symbol)
            case _:
                pass  # other reports play no part here

    def _move(self, symbol: str) -> None:
        old = self.stops[symbol]
        self.seq[symbol] += 1
        stop = old.stop_price + TICK
        new = old.replace(client_order_id=f"{old.client_order_id.rsplit('-', 1)[0]}-"
                                          f"{self.seq[symbol]}",
                          state=OrderState.PENDING_NEW, stop_price=stop,
                          limit_price=stop - 100 * TICK, replaces=old.client_order_id)
        self.gateway.tell(ReplaceStop(old=old, new=new, gap=TICK))


def _stops(fleet: Fleet) -> dict[str, Order]:
    return {fleet.symbols[n]: fleet.position(n)[1] for n in range(fleet.size)}


def _gateway_run(exchange: BinanceExchange, fleet: Fleet, seconds: float,
                 align_s: float = 0) -> tuple[int, int]:
    """Moves completed (and failed) by the Gateway in ``seconds``, after a short warm-up."""
    gateway = Gateway.start(exchange)
    mover = Mover.start(gateway, _stops(fleet))
    try:
        for symbol in fleet.symbols:
            gateway.tell(RegisterPair(symbol=symbol, pair=mover, slot=None))
        mover.tell(StartMoving())
        time.sleep(min(1.0, seconds / 4))
        if align_s:  # start on a window boundary, so the span holds whole windows
            time.sleep(align_s - time.time() % align_s)
        moved0, failed0 = mover.ask(CountMoves(), timeout=30)
        time.sleep(seconds)
        moved1, failed1 = mover.ask(CountMoves(stop=True), timeout=30)
        return moved1 - moved0, failed1 - failed0
    finally:
        gateway.stop(timeout=60)
        mover.stop(timeout=30)


def _adapter_run(exchange: BinanceExchange, fleet: Fleet, seconds: float) -> int:
    """The same moves through the adapter in a plain loop, no actor in between."""
    stops = _stops(fleet)
    seq = dict.fromkeys(stops, 10_000)
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        for symbol, old in stops.items():
            seq[symbol] += 1
            cid = f"{old.client_order_id.rsplit('-', 1)[0]}-{seq[symbol]}"
            stop = old.stop_price + TICK
            exchange.cancel_replace(symbol=symbol, cancel_client_order_id=old.client_order_id,
                                    qty=old.qty, stop_price=stop, limit_price=stop - 100 * TICK,
                                    new_client_order_id=cid)
            stops[symbol] = old.replace(client_order_id=cid, stop_price=stop,
                                        limit_price=stop - 100 * TICK)
            done += 1
    return done


def order_ops(sizes: Sizes, workdir: Path, latency_ms: int, limits: str) -> dict:
    fleet = Fleet(size=sizes.movers)
    directory = workdir / f"ops-{latency_ms}-{limits}"
    directory.mkdir()
    raised = limits == "raised"
    sim = harness.start_sim(directory, *fleet.sim_args(), *(harness.UNLIMITED if raised else ()),
                            latency_ms=latency_ms)
    counter = VenueCounter()
    try:
        fleet.place_stops(sim)
        exchange = sim.exchange(key=harness.API_KEY, secret=harness.API_SECRET,
                                symbols=fleet.symbols, timeout_s="5", metrics=counter)
        exchange.load_exchange_info()  # filters and the ORDERS limits, outside the timing
        seconds = sizes.ops_seconds if raised else sizes.default_limit_seconds
        moved, failed = _gateway_run(exchange, fleet, seconds, align_s=0 if raised else 10)
        if raised:
            baseline = _adapter_run(exchange, fleet, sizes.ops_seconds) / sizes.ops_seconds
        else:
            baseline = DEFAULT_ORDERS_10S / 10
        exchange.close()
    finally:
        sim.stop()
    return _emit(metric="gateway_order_ops_per_s", value=moved / seconds, unit="ops/s",
                 baseline=baseline, better="higher", latency_ms=latency_ms, limits=limits,
                 movers=fleet.size, seconds=seconds, failed=failed,
                 rate_limited=counter.rate_limited,
                 baseline_is="adapter in a plain loop" if raised else "sim ORDERS limit / 10 s")


def run(sizes: Sizes, workdir: Path) -> list[dict]:
    records = [boot_to_protected(sizes, workdir)]
    for latency_ms in (0, LATENCY_MS):
        records.append(order_ops(sizes, workdir, latency_ms, "raised"))
    records.append(order_ops(sizes, workdir, 0, "default"))
    return records


def main() -> None:
    run_in_workdir("sim", run, Sizes(), QUICK)


if __name__ == "__main__":
    main()
