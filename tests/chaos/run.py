"""One chaos run: a sim with a fast price path, the engine against it, kills and restarts, and
the invariants checked after every restart (``tests/chaos/invariants.py``).

A cycle: the market runs; after a random 0.2–1.8 s of trading the engine is killed; the market
runs on for up to 0.5 s more (stops trigger and fill while it is down); the engine starts again.
Every fourth kill lands at a random moment of a start-up instead (imports, connect,
reconciliation). Once a restarted engine prints its boot line (after reconciliation), the sim's
price path is paused and, in rounds, every last price is printed once more (``nudge``: stop
moves and re-entries happen on prices); within ``SETTLE_S`` of the boot line one round must
find every invariant holding on a consistent view (the sim read before and after the DB).
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from core.config import load_config
from persistence.db import open_database
from tests.chaos import harness, invariants
from tests.chaos.harness import EngineProcess, SimProcess

# Every invariant holds within this long after the engine's boot line (issue 6: 5 s; a
# slower machine may set RATCHET_CHAOS_SETTLE_S).
SETTLE_S = float(os.environ.get("RATCHET_CHAOS_SETTLE_S", "5"))  # seconds, not money
TICK = Decimal("0.01")  # the sim's PRICE_FILTER tickSize for every symbol
PREFIX = "rt"


def cycles_from_env(default: int = 8) -> int:
    return int(os.environ.get("RATCHET_CHAOS_CYCLES", default))


class ChaosRun:
    def __init__(self, workdir: Path, *, pairs: int = 20, seed: int = 1,
                 sim_args: tuple[str, ...] = harness.FAST_SIM, db_path: str = "ratchet.db",
                 password: str | None = None, fee_prices: dict[str, Decimal] | None = None,
                 sim_only: tuple[str, ...] = (), stop_mode: str = "replace",
                 settle_s: float = SETTLE_S) -> None:
        """``sim_only``: symbols the sim lists that no pair trades (BNBUSDT for its price);
        ``fee_prices``: the price, held still, of each third asset commissions are paid in;
        ``settle_s``: how long after a boot line every invariant must hold."""
        self.settle_s = settle_s
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.syms = harness.symbols(pairs)
        self.fee_prices = dict(fee_prices or {})
        self.sim = SimProcess(workdir, [*self.syms, *sim_only], *sim_args,
                              "--seed", str(seed)).start()
        self.config, self.metrics_port = harness.write_binance_config(
            workdir, self.sim.url, self.syms, db_path=db_path,
            defaults=f'{harness.CHAOS_DEFAULTS}\nstop_mode = "{stop_mode}"')
        self.password = password
        cfg = load_config(self.config, env={"RATCHET_API_KEY": harness.KEY,
                                            "RATCHET_API_SECRET": harness.SECRET})
        self.settings = {p.symbol: p for p in cfg.pairs}
        self.db_path = cfg.engine.db_path
        self.engine = EngineProcess(
            self.config, env={"RATCHET_DB_PASSWORD": password} if password else None)
        self.tally = invariants.Tally()
        self.kills: Counter = Counter()
        self.exit_codes: Counter = Counter()
        self.settle_times: list[float] = []
        self.boot_kills = 0
        self.boot_times: list[float] = []

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    # --- the pieces of a cycle ------------------------------------------------------------

    def boot(self) -> float:
        self.engine.start()
        ready_at = self.engine.wait_ready()
        self.boot_times.append(ready_at - self.engine.started_at)
        return ready_at

    def check(self, ready_at: float, settle_s: float | None = None) -> None:
        """Pause the market, let the engine settle, and require every invariant.

        Each round prints every last price once more (``nudge``): stop moves happen on prices,
        and one held back while a query or another move was in flight is made on the next.
        """
        self.sim.pause(True)
        settle_s = self.settle_s if settle_s is None else settle_s
        deadline = ready_at + settle_s
        while True:
            self.sim.nudge()
            taken = time.monotonic()
            probe = invariants.Tally()
            snap = invariants.snapshot(self.db_path, self.sim, PREFIX, self.password)
            problems = invariants.check_all(snap, self.settings, TICK, PREFIX, probe)
            if not problems and taken <= deadline:
                self.tally.counts.update(probe.counts)
                self.tally.rounds += 1
                self.settle_times.append(taken - ready_at)
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"invariants broken {settle_s} s after restart {self.engine.runs} "
                    f"(log {self.engine.log}), last check {taken - ready_at:.2f} s after the "
                    "boot line:\n" + "\n".join(problems[:20] or ["(held, but too late)"]))
            time.sleep(0.1)

    def resume(self) -> None:
        self.sim.pause(False)

    def kill(self, sig: int) -> None:
        code = self.engine.signal(sig)
        self.kills[signal.Signals(sig).name] += 1
        self.exit_codes[code] += 1

    # --- whole runs ---------------------------------------------------------------------

    def cycles(self, n: int, sig: int, *, trade_s: tuple[float, float] = (0.2, 1.8),
               boot_kill_every: int = 4) -> None:
        """``n`` kills with ``sig``, each after a random while of trading. With SIGKILL, every
        ``boot_kill_every``-th kill lands instead at a random moment of the next start-up
        (imports, connect, reconciliation). Every engine that reaches its boot line is checked;
        the run ends with the engine up, checked, on a paused market."""
        self.check(self.boot())
        kills = 0
        while kills < n:
            self.resume()
            time.sleep(self.rng.uniform(*trade_s))
            self.kill(sig)
            kills += 1
            time.sleep(self.rng.uniform(0, 0.5))  # offline: the market moves on
            if sig == signal.SIGKILL and boot_kill_every and kills < n and \
                    kills % boot_kill_every == 1:
                self.engine.start()
                time.sleep(self.rng.uniform(0.2, 2.5))
                self.kill(sig)
                kills += 1
                self.boot_kills += 1
            self.check(self.boot())

    def finish(self) -> dict:
        """Stop the engine with SIGTERM on the paused market; check everything once more (the
        stops stay on the sim) and compare the P&L."""
        code = self.engine.signal(signal.SIGTERM)
        snap = invariants.snapshot(self.db_path, self.sim, PREFIX, self.password)
        problems = invariants.check_all(snap, self.settings, TICK, PREFIX, self.tally,
                                        trading=False)
        db_pnl = invariants_db_pnl(self.db_path, self.password)
        sim_pnl, closed = invariants.sim_pnl(snap, PREFIX, fee_prices=self.fee_prices)
        on_sim = invariants.sim_fills(snap, PREFIX)
        return {
            "exit_code": code, "problems": problems, "db_pnl": db_pnl, "sim_pnl": sim_pnl,
            "closed": closed, "open": len(snap.positions), "fills": len(on_sim),
            "orders": snap.sim_orders,
            "db_closed": closed_positions(self.db_path, self.password),
            "handled": handled(self.db_path, self.password),
            "stop_moves": sum(p.stop_moves for p in all_positions(self.db_path, self.password)),
            "replaces": replacing_orders(self.db_path, self.password),
        }

    def summary(self, name: str, result: dict, cycles: str = "") -> str:
        kills = " ".join(f"{k} {v}" for k, v in sorted(self.kills.items()))
        if self.boot_kills:
            kills += f", {self.boot_kills} of them during start-up"
        cycles = cycles or f"{sum(self.kills.values())} cycles ({kills})"
        times = sorted(self.settle_times) or [0.0]
        settle = f"{times[len(times) // 2]:.2f} s, max {times[-1]:.2f} s"
        boot = sum(self.boot_times) / len(self.boot_times) if self.boot_times else 0.0
        return (f"chaos {name}: {cycles}, {len(self.syms)} pairs, positions "
                f"{result['closed']} closed + {result['open']} open, fills {result['fills']}, "
                f"orders {result['orders']}, realized P&L {result['db_pnl']} (sim "
                f"{result['sim_pnl']}); {result['handled']}; invariant checks at "
                f"{self.tally.rounds} points: "
                f"{self.tally.line()}; consistent after median {settle}; mean boot "
                f"{boot:.2f} s")  # display

    def close(self) -> None:
        if self.engine.alive():
            self.engine.signal(signal.SIGKILL)
        self.sim.stop()


def invariants_db_pnl(db_path: Path, password: str | None = None) -> Decimal:
    """``trades.pnl`` summed; it must agree with the closed positions' own ``pnl``."""
    from persistence.repository import Repository

    db = open_database(db_path, readonly=True, password=password)
    try:
        from_trades = Repository(db).realized_pnl()
    finally:
        db.close()
    from_positions = sum((p.pnl for p in all_positions(db_path, password) if p.pnl is not None),
                         Decimal(0))
    assert from_trades == from_positions, (from_trades, from_positions)
    return from_trades


def handled(db_path: Path, password: str | None = None) -> str:
    """What the strict venue made the engine do, from the DB's order rows: stops refused
    because the market crossed them in flight (-2010 would trigger), sales at market (timeouts
    and stops that could not be placed), and moves whose cancel went through but whose new
    stop did not (409 -2021, answered by a fresh stop or a sale)."""
    orders = _orders(db_path, password)
    by_id = {o.client_order_id: o for o in orders}
    refused = sum(1 for o in orders if o.state.value == "REJECTED"
                  and "would trigger immediately" in (o.reason or ""))
    sales = sum(1 for o in orders if o.side.value == "SELL" and o.type.value == "MARKET"
                and o.state.value == "FILLED")
    local = ("intent never reached the venue", "unknown to the venue", "not needed")
    half = sum(1 for o in orders if o.replaces and o.state.value == "FAILED"
               and o.reason not in local and (old := by_id.get(o.replaces)) is not None
               and old.state.value == "CANCELED")
    return (f"stops refused as would-trigger {refused}, market exits {sales}, "
            f"409s handled {half}")


def replacing_orders(db_path: Path, password: str | None = None) -> int:
    """Order rows that replace another (a stop move's, or a top-up's, cancelReplace)."""
    return sum(1 for o in _orders(db_path, password) if o.replaces is not None)


def _orders(db_path: Path, password: str | None) -> list:
    from persistence.repository import Repository

    db = open_database(db_path, readonly=True, password=password)
    try:
        return Repository(db).list_orders()
    finally:
        db.close()


def closed_positions(db_path: Path, password: str | None = None) -> int:
    return sum(1 for p in all_positions(db_path, password) if p.pnl is not None)


def all_positions(db_path: Path, password: str | None = None) -> list:
    from persistence.repository import Repository

    db = open_database(db_path, readonly=True, password=password)
    try:
        return Repository(db).list_positions()
    finally:
        db.close()
