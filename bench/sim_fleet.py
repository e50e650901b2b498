"""Many open positions at once, for boot reconciliation at scale (tests and ``bench.sim_bench``).

``Fleet`` names the symbols and their roles; ``sim_args`` lists them (with the base balances
their stops lock) for ``ratchet sim-exchange``; ``prepare`` writes one OPEN position and its NEW
stop row per symbol into a closed DB and puts the matching stops on the sim through its control
endpoints, except for the symbols meant to be found not open: their stop is canceled, filled,
or never placed.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bench import engine_process as engine
from bench.sim_process import Sim
from core.trailing import levels_at
from core.types import Order, OrderState, OrderType, PairSettings, Position, PositionState, Side

QTY = Decimal("0.5")
ENTRY = Decimal(100)  # the sim's start price of every symbol it has no price for
TICK = Decimal("0.01")
SETTINGS = {"trail_pct": "5", "limit_offset_pct": "0.5", "quote_per_trade": "50"}


@dataclass(frozen=True, slots=True)
class Fleet:
    size: int
    canceled: int = 0  # canceled on the sim while the engine was down
    filled: int = 0  # filled while down (the sim's price went to the stop)
    missing: int = 0  # never reached the sim

    @property
    def symbols(self) -> list[str]:
        return [f"Q{n:04d}USDT" for n in range(self.size)]

    def role(self, n: int) -> str:
        for role, upto in (("canceled", self.canceled),
                           ("filled", self.canceled + self.filled),
                           ("missing", self.canceled + self.filled + self.missing)):
            if n < upto:
                return role
        return "open"

    @property
    def not_open(self) -> int:
        return self.canceled + self.filled + self.missing

    def settings(self, symbol: str = "*") -> PairSettings:
        return PairSettings(symbol=symbol, **{k: Decimal(v) for k, v in SETTINGS.items()})

    def position(self, n: int) -> tuple[Position, Order]:
        symbol = self.symbols[n]
        levels = levels_at(ENTRY, self.settings(symbol), TICK)
        pid = f"q{n:04d}"
        stop = Order(client_order_id=f"rt-{pid}-2", position_id=pid, symbol=symbol,
                     side=Side.SELL, type=OrderType.STOP_LOSS_LIMIT, qty=QTY,
                     state=OrderState.NEW, stop_price=levels.stop, limit_price=levels.limit)
        position = Position(position_id=pid, symbol=symbol, state=PositionState.OPEN, qty=QTY,
                            entry_price=ENTRY, entry_time="2026-01-01T00:00:00Z",
                            highest=ENTRY, stop=levels.stop, limit=levels.limit,
                            stop_order_id=stop.client_order_id, seq=2)
        return position, stop

    def sim_args(self) -> list[str]:
        """Flags for ``ratchet sim-exchange``: the symbols, each base balance, a still walk."""
        balances = [f"{s.removesuffix('USDT')}={QTY}" for s in self.symbols]
        return ["--symbols", *self.symbols, "--interval-ms", "600000",
                *(a for b in ["USDT=100000", *balances] for a in ("--balance", b))]

    def prepare(self, db_path: Path, sim: Sim) -> None:
        """The DB rows and the stops on the sim."""
        self.write_rows(db_path)
        self.place_stops(sim)

    def write_rows(self, db_path: Path) -> None:
        """One OPEN position and its NEW stop row per symbol, in one transaction."""
        rows = [self.position(n) for n in range(self.size)]

        def write(repo) -> None:
            for position, stop in rows:
                repo.save_position(position)
                repo.save_order(stop)

        engine.write(db_path, write)

    def place_stops(self, sim: Sim) -> None:
        """Each stop on the sim through its control endpoints (no limits, no faults), its price
        path paused first; then canceled, filled or left out as the symbol's role says."""
        sim.pause()
        control = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
        try:
            for n in range(self.size):
                self._place(control, self.role(n), self.position(n)[1])
        finally:
            control.close()

    @staticmethod
    def _place(control: http.client.HTTPConnection, role: str, stop: Order) -> None:
        """One stop through ``/sim/order`` on a kept-alive connection (twice as fast as a
        connection a call), then canceled or filled as its role says."""

        def post(path: str, body: dict) -> None:
            control.request("POST", path, json.dumps(body),
                            {"Content-Type": "application/json"})
            response = control.getresponse()
            text = response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: {response.status} {text!r}")

        if role == "missing":
            return
        post("/sim/order", {
            "symbol": stop.symbol, "side": "SELL", "type": "STOP_LOSS_LIMIT",
            "quantity": str(stop.qty), "price": str(stop.limit_price),
            "stopPrice": str(stop.stop_price), "newClientOrderId": stop.client_order_id})
        if role == "canceled":
            post("/sim/cancel", {"symbol": stop.symbol,
                                 "origClientOrderId": stop.client_order_id})
        elif role == "filled":  # stop >= price >= limit: it fills at once
            post("/sim/price", {"symbol": stop.symbol, "price": str(stop.stop_price)})
