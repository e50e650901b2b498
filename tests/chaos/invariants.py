"""The chaos invariants, checked against the engine's DB and the sim's own records.

Each check returns the problems it found (an empty list: it holds) and counts how many items it
checked into ``Tally``, which ends up in the run's summary line:

- ``stops``: every open position in the DB is OPEN, not halted, and has exactly one open order
  on the sim: its ``stop_order_id``, a STOP_LOSS_LIMIT SELL of its qty. In replace mode it is
  at the position's stop and limit, where §3 puts it for the persisted ``highest``: never above
  ``candidate(highest) = floor_tick(highest × (1 − trail_pct/100))`` (a stop comes from a
  highest that was persisted with it), and not so far below that §3 would move it now
  (``next_stop(stop, highest)`` is None: ``candidate < stop + step_min``). Reconciliation may
  keep a stop that is correct, or place ``levels_at(max(highest, last price))``, and a fresh
  stop is the max of that and what was there; both satisfy this. In native mode (§3b) it has
  the pair's ``trailingDelta`` and no stop price, at the position's limit, which was fixed from
  a highest no later than the persisted one (``limit <= limit_for(candidate(highest))``, on the
  tick grid); the position's stop is the estimate, exactly ``candidate(highest)``.
- ``orders``: every open order on the sim with our prefix is a row in the DB, not final there.
- ``fills``: every fill on the sim of an order with our prefix is in ``trades`` exactly once
  (same symbol and exchange trade id, price, qty and fee), and ``trades`` holds nothing else.
- ``buys``: no double buy: every BUY the sim filled for our prefix belongs to exactly one
  position (the position part of its client id), and no position bought twice.
- ``integrity``: ``PRAGMA integrity_check`` is ``ok``.
- ``trading`` (liveness, not safety): every configured pair holds an open position again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.money import on_grid
from core.stop_mode import native_delta
from core.trailing import candidate_stop, limit_for, next_stop
from core.types import Order, PairSettings, Position, PositionState, SymbolFilters
from persistence.db import open_database
from persistence.repository import Repository


@dataclass
class Tally:
    """How many times each invariant was checked (one per item per check)."""

    counts: Counter = field(default_factory=Counter)
    rounds: int = 0

    def line(self) -> str:
        return ", ".join(f"{k} {self.counts[k]}" for k in ("stops", "orders", "fills", "buys",
                                                           "integrity", "trading"))


@dataclass(frozen=True)
class Snapshot:
    positions: list[Position]  # open positions in the DB
    db_orders: dict[str, Order]  # the DB rows of the sim's open orders (those it has)
    db_fills: list[tuple]  # every trades row: (symbol, exchange_trade_id, cid, price, qty, fee)
    integrity: tuple[str, ...]
    sim_open: list[dict[str, Any]]  # the sim's open orders
    sim_trades: list[dict[str, Any]]  # every fill on the sim, with its order's client id
    sim_orders: int  # how many orders the sim ever took with our prefix
    stable: bool = True  # the sim did not change while the DB was read


def read_db(db_path: Path, password: str | None = None, order_ids: Any = None,
            ) -> tuple[list[Position], dict[str, Order], list[tuple], tuple[str, ...]]:
    """Open positions, the order rows asked for (all when ``order_ids`` is None), every fill,
    and ``integrity_check``, through a read-only connection (the engine may be running)."""
    db = open_database(db_path, readonly=True, password=password)
    try:
        repo = Repository(db)
        positions = repo.list_positions(open_only=True)
        if order_ids is None:
            orders = {o.client_order_id: o for o in repo.list_orders()}
        else:
            orders = {cid: o for cid in order_ids if (o := repo.get_order(cid)) is not None}
        fills = [(sym, tid, cid, Decimal(price), Decimal(qty), Decimal(fee))
                 for sym, tid, cid, price, qty, fee in db.execute_sql(
                     "SELECT symbol, exchange_trade_id, client_order_id, price, qty, fee "
                     "FROM trades")]
        integrity = tuple(str(r[0]) for r in db.execute_sql("PRAGMA integrity_check"))
        return positions, orders, fills, integrity
    finally:
        db.close()


def snapshot(db_path: Path, sim: Any, prefix: str, password: str | None = None) -> Snapshot:
    """The sim's records, the DB, then the sim's records again: on a paused market the engine
    may still act on the last price (a time-out sale, say), and a view where the DB is ahead
    of the sim is no view at all; ``stable`` says whether the two sim reads agree."""
    before = sim.records(prefix)
    positions, orders, fills, integrity = read_db(
        db_path, password, [o["clientOrderId"] for o in before[0]])
    return Snapshot(positions, orders, fills, integrity, *before,
                    stable=sim.records(prefix) == before)


def ours(sim_orders: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [o for o in sim_orders if o["clientOrderId"].startswith(prefix + "-")]


def sim_filters(symbol: str, tick: Decimal) -> SymbolFilters:
    """The sim's filters of every symbol (TRAILING_DELTA 10 to 2000)."""
    return SymbolFilters(symbol=symbol, base_asset=symbol[: -len("USDT")], quote_asset="USDT",
                         tick=tick, step=STEP, min_notional=Decimal(5))


def check_native_stop(p: Position, o: dict[str, Any], cfg: PairSettings, delta: int,
                      tick: Decimal) -> str | None:
    """What is wrong with a native position's stop on the sim, or None."""
    limit = Decimal(o["price"])
    if (o["type"], o["side"], o["trailingDelta"], o["stopPrice"]) != (
            "STOP_LOSS_LIMIT", "SELL", delta, None) or Decimal(o["origQty"]) != p.qty \
            or limit != p.limit:
        return (f"sim stop {o['type']} {o['side']} {o['origQty']} delta {o['trailingDelta']} "
                f"stop {o['stopPrice']} limit {limit}, DB {p.qty} delta {delta} limit {p.limit}")
    estimate = candidate_stop(p.highest, trail_pct=cfg.trail_pct, tick=tick)
    highest_limit = limit_for(estimate, limit_offset_pct=cfg.limit_offset_pct, tick=tick)
    if p.stop != estimate or limit > highest_limit or not on_grid(limit, tick):
        return (f"native stop: estimate {p.stop} for persisted highest {p.highest} (§3b gives "
                f"{estimate}), limit {limit} (at most {highest_limit}, on the tick grid)")
    return None


def check_stops(s: Snapshot, settings: dict[str, PairSettings], tick: Decimal, prefix: str,
                tally: Tally) -> list[str]:
    problems = []
    open_by_symbol: dict[str, list[dict]] = {}
    for o in ours(s.sim_open, prefix):
        open_by_symbol.setdefault(o["symbol"], []).append(o)
    for p in s.positions:
        tally.counts["stops"] += 1
        where = f"{p.symbol} {p.position_id}"
        if p.state is not PositionState.OPEN or p.halted:
            problems.append(f"{where}: state {p.state} halted={p.halted}")
            continue
        on_sim = open_by_symbol.get(p.symbol, [])
        if [o["clientOrderId"] for o in on_sim] != [p.stop_order_id]:
            problems.append(f"{where}: open orders on the sim "
                            f"{[o['clientOrderId'] for o in on_sim]}, DB stop {p.stop_order_id}")
            continue
        o = on_sim[0]
        cfg = settings[p.symbol]
        delta = native_delta(cfg, sim_filters(p.symbol, tick))
        if delta is not None:
            problem = check_native_stop(p, o, cfg, delta, tick)
            if problem is not None:
                problems.append(f"{where}: {problem}")
            continue
        if o["stopPrice"] is None:
            problems.append(f"{where}: a replace-mode pair with a stop without a stop price")
            continue
        stop, limit = Decimal(o["stopPrice"]), Decimal(o["price"])
        if (o["type"], o["side"]) != ("STOP_LOSS_LIMIT", "SELL") or \
                Decimal(o["origQty"]) != p.qty or (stop, limit) != (p.stop, p.limit):
            problems.append(f"{where}: sim stop {o['type']} {o['side']} {o['origQty']} "
                            f"@{stop}/{limit}, DB {p.qty} @{p.stop}/{p.limit}")
            continue
        top = candidate_stop(p.highest, trail_pct=cfg.trail_pct, tick=tick)
        lagging = next_stop(stop=stop, highest=p.highest, entry_price=p.entry_price,
                            settings=cfg, tick=tick)
        if stop > top or lagging is not None:
            problems.append(f"{where}: stop {stop} for persisted highest {p.highest}: §3 "
                            f"gives at most {top} and would move it to "
                            f"{lagging.stop if lagging else '-'}")
    return problems


def check_orders(s: Snapshot, prefix: str, tally: Tally) -> list[str]:
    problems = []
    for o in ours(s.sim_open, prefix):
        tally.counts["orders"] += 1
        row = s.db_orders.get(o["clientOrderId"])
        if row is None:
            problems.append(f"open sim order {o['clientOrderId']} ({o['symbol']}) has no DB row")
        elif row.state.is_final:
            problems.append(f"open sim order {o['clientOrderId']} is {row.state} in the DB")
    return problems


def sim_fills(s: Snapshot, prefix: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The sim's fills of our orders, keyed like ``trades``: (symbol, trade id)."""
    return {(t["symbol"], str(t["id"])): t for t in s.sim_trades
            if t["clientOrderId"].startswith(prefix + "-")}


def check_fills(s: Snapshot, prefix: str, tally: Tally) -> list[str]:
    problems = []
    on_sim = sim_fills(s, prefix)
    in_db = Counter((sym, tid) for sym, tid, *_ in s.db_fills)
    by_key = {(sym, tid): rest for sym, tid, *rest in s.db_fills}
    for key, t in on_sim.items():
        tally.counts["fills"] += 1
        if in_db[key] != 1:
            problems.append(f"sim fill {key} of {t['clientOrderId']} is in trades "
                            f"{in_db[key]} times")
            continue
        expected = [t["clientOrderId"], Decimal(t["price"]), Decimal(t["qty"]),
                    Decimal(t["commission"])]
        if by_key[key] != expected:
            problems.append(f"fill {key}: DB {by_key[key]}, sim {expected}")
    for key in set(in_db) - set(on_sim):
        problems.append(f"trades row {key} is not a fill on the sim")
    return problems


def check_buys(s: Snapshot, prefix: str, tally: Tally) -> list[str]:
    """Each position bought once: the sim's BUY fills of ours, by the position in their id."""
    bought: dict[str, set[str]] = {}
    for t in s.sim_trades:
        cid = t["clientOrderId"]
        if t["isBuyer"] and cid.startswith(prefix + "-"):
            tally.counts["buys"] += 1
            bought.setdefault(cid.split("-")[1], set()).add(cid)
    return [f"position {pid} bought {len(cids)} times: {sorted(cids)}"
            for pid, cids in bought.items() if len(cids) > 1]


def check_integrity(s: Snapshot, tally: Tally) -> list[str]:
    tally.counts["integrity"] += 1
    return [] if s.integrity == ("ok",) else [f"integrity_check: {s.integrity}"]


def check_trading(s: Snapshot, settings: dict[str, PairSettings], tally: Tally) -> list[str]:
    """Liveness: with ``entry = always`` every pair holds a position again once it has seen a
    price (a pair that closed re-enters on the next one)."""
    tally.counts["trading"] += 1
    flat = sorted(set(settings) - {p.symbol for p in s.positions})
    return [f"pairs not trading: {flat}"] if flat else []


def check_all(s: Snapshot, settings: dict[str, PairSettings], tick: Decimal, prefix: str,
              tally: Tally, *, trading: bool = True) -> list[str]:
    if not s.stable:
        return ["the sim changed while the DB was read"]
    return (check_stops(s, settings, tick, prefix, tally) + check_orders(s, prefix, tally)
            + check_fills(s, prefix, tally) + check_buys(s, prefix, tally)
            + check_integrity(s, tally)
            + (check_trading(s, settings, tally) if trading else []))


STEP = Decimal("0.00001")  # the sim's LOT_SIZE stepSize for every symbol


def sim_pnl(s: Snapshot, prefix: str, step: Decimal = STEP,
            fee_prices: dict[str, Decimal] | None = None) -> tuple[Decimal, int]:
    """Realized P&L from the sim's own fills, and the number of closed positions.

    Fills are grouped by position through the client order id (``prefix-<position>-<seq>``),
    not through the DB. As on Binance, a buy's commission is charged in the base asset (the
    position holds what was received, floored to the step) and a sell's in the quote asset.
    A position is closed when it sold all it held (less than a step of dust is left). Its P&L
    is DESIGN.md §3's ``(exit − entry) × qty − fees`` with average prices over the sold
    ``qty``, every commission valued in the quote asset at its own fill's price; one paid in a
    third asset (BNB) at ``fee_prices[asset]`` (the run holds that price still).
    """
    fee_prices = fee_prices or {}
    groups: dict[str, dict[str, Decimal]] = {}
    for t in sim_fills(s, prefix).values():
        g = groups.setdefault(t["clientOrderId"].split("-")[1], Counter())
        qty, price, fee = Decimal(t["qty"]), Decimal(t["price"]), Decimal(t["commission"])
        base, asset = t["symbol"][: -len("USDT")], t["commissionAsset"]
        assert asset in (base, "USDT", *fee_prices), t
        side = "buy" if t["isBuyer"] else "sell"
        g[side + "_qty"] += qty
        g[side + "_quote"] += price * qty
        g["fee"] += fee * {**fee_prices, base: price, "USDT": Decimal(1)}[asset]
        g["base_fee"] += fee if asset == base else Decimal(0)
    total, closed = Decimal(0), 0
    for g in groups.values():
        held = g["buy_qty"] - g["base_fee"]
        if g["buy_qty"] and g["sell_qty"] and Decimal(0) <= held - g["sell_qty"] < step:
            entry = g["buy_quote"] / g["buy_qty"]
            total += (g["sell_quote"] / g["sell_qty"] - entry) * g["sell_qty"] - g["fee"]
            closed += 1
    return total, closed
