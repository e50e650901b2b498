"""The ``Book``'s reads and writes of rows, and the matching engine's checks that read them.

Every function takes the cursor (or connection) of the caller's transaction; the ``Book`` holds
the lock and the transaction around them.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from core.fill_model import StopState, TrailingStop
from core.money import ZERO
from core.types import OrderState, OrderType, Side
from exchange.book_rows import (
    ORDER_COLUMNS,
    BookOrder,
    BookTrade,
    dec_or_none,
    str_or_none,
    trade_from_row,
)
from exchange.book_rules import (
    DUPLICATE,
    INSUFFICIENT,
    StopRequest,
    VenueRules,
    rejected,
    would_trigger,
)

Cursor = sqlite3.Cursor | sqlite3.Connection
OPEN = (OrderState.NEW.value, OrderState.PARTIALLY_FILLED.value)
TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"  # stored type of a take-profit (see BookOrder)
STOP_TYPES = (OrderType.STOP_LOSS_LIMIT.value, TAKE_PROFIT_LIMIT)
TRADE_COLUMNS = (
    "t.trade_id, t.order_id, o.client_order_id, t.symbol, t.side, t.price, t.qty, t.quote_qty, "
    "t.commission, t.commission_asset, t.is_maker, t.ts, t.time"
)


def move(cur: Cursor, asset: str, *, free: Decimal = ZERO, locked: Decimal = ZERO) -> None:
    """Add ``free`` and ``locked`` (either may be negative) to a balance; -2010 when the free
    balance would go below zero."""
    row = cur.execute("SELECT free, locked FROM balances WHERE asset=?", (asset,)).fetchone()
    old_free, old_locked = (ZERO, ZERO) if row is None else map(Decimal, row)
    if old_free + free < 0:
        raise rejected(INSUFFICIENT)
    cur.execute(
        "INSERT INTO balances(asset, free, locked) VALUES (?,?,?) ON CONFLICT(asset) "
        "DO UPDATE SET free=excluded.free, locked=excluded.locked",
        (asset, str(old_free + free), str(old_locked + locked)),
    )


def free_balance(cur: Cursor, asset: str) -> Decimal:
    row = cur.execute("SELECT free FROM balances WHERE asset=?", (asset,)).fetchone()
    return ZERO if row is None else Decimal(row[0])


def insert_order(
    cur: Cursor, client_order_id: str, symbol: str, side: Side, type_: str, qty: Decimal,
    price: Decimal | None, stop: Decimal | None, ts: Decimal, trailing_delta: int | None = None,
) -> int:
    cur.execute(
        "INSERT INTO orders(client_order_id, symbol, side, type, qty, price, stop_price, "
        "status, executed_qty, quote_qty, created_ts, updated_ts, trailing_delta) "
        "VALUES (?,?,?,?,?,?,?,?,'0','0',?,?,?)",
        (client_order_id, symbol, side.value, type_, str(qty), str_or_none(price),
         str_or_none(stop), OrderState.NEW.value, str(ts), str(ts), trailing_delta),
    )
    return int(cur.lastrowid)


def count_open(cur: Cursor, symbol: str, types: tuple[str, ...] | None = None) -> int:
    """Open orders of ``symbol`` (of ``types`` only, if given)."""
    sql, args = "SELECT COUNT(*) FROM orders WHERE symbol=? AND status IN (?, ?)", [symbol, *OPEN]
    if types:
        sql += f" AND type IN ({','.join('?' * len(types))})"
        args += types
    return cur.execute(sql, args).fetchone()[0]


def client_id_open(cur: Cursor, client_order_id: str) -> bool:
    return cur.execute(
        "SELECT 1 FROM orders WHERE client_order_id=? AND status IN (?, ?)",
        (client_order_id, *OPEN),
    ).fetchone() is not None


def check_new_order(cur: Cursor, rules: VenueRules, symbol: str, client_order_id: str, *,
                    stop: StopRequest | None, last: Decimal | None) -> None:
    """The matching engine's refusals (-2010) of a new order, before its balance: a duplicate
    open client id, a stop price the last price already meets, MAX_NUM_ORDERS, then (for a
    stop, an algo order) MAX_NUM_ALGO_ORDERS."""
    if client_id_open(cur, client_order_id):
        raise rejected(DUPLICATE)
    if stop is not None and stop.stop is not None and would_trigger(
            stop.stop, last, take_profit=stop.take_profit):
        raise rejected(rules.would_trigger_msg)
    if count_open(cur, symbol) >= rules.max_num_orders:
        raise rejected("Filter failure: MAX_NUM_ORDERS")
    if stop is not None and count_open(cur, symbol, STOP_TYPES) >= rules.max_num_algo_orders:
        raise rejected("Filter failure: MAX_NUM_ALGO_ORDERS")


def save_price(cur: Cursor, symbol: str, last: tuple[Decimal, Decimal, str] | None) -> None:
    """The last (price, ts, time) of a symbol."""
    if last is not None:
        cur.execute("INSERT OR REPLACE INTO prices(symbol, price, ts, time) VALUES (?,?,?,?)",
                    (symbol, str(last[0]), str(last[1]), last[2]))


def save_status(cur: Cursor, symbol: str, status: str, trading: str) -> None:
    """A symbol's trading status: a row while it is not ``trading``, none once it is."""
    if status == trading:
        cur.execute("DELETE FROM symbol_status WHERE symbol=?", (symbol,))
    else:
        cur.execute("INSERT OR REPLACE INTO symbol_status(symbol, status) VALUES (?,?)",
                    (symbol, status))


def open_order_ids(cur: Cursor, symbol: str) -> list[int]:
    return [row[0] for row in cur.execute(
        "SELECT order_id FROM orders WHERE symbol=? AND status IN (?, ?) ORDER BY order_id",
        (symbol, *OPEN))]


def find(cur: Cursor, symbol: str, client_order_id: str | None,
         order_id: int | None) -> tuple | None:
    """An order of ``symbol`` by id and/or client id (both must match when both given). A
    client id used more than once names its open order, else its latest."""
    where = " AND ".join(clause for clause, value in (
        ("order_id=?", order_id), ("client_order_id=?", client_order_id)) if value is not None)
    args = [v for v in (order_id, client_order_id) if v is not None]
    return cur.execute(
        f"SELECT {ORDER_COLUMNS} FROM orders WHERE {where} AND symbol=? "
        "ORDER BY status IN (?, ?) DESC, order_id DESC LIMIT 1", (*args, symbol, *OPEN),
    ).fetchone()


def set_status(cur: Cursor, order_id: int, state: OrderState, ts: Decimal) -> None:
    cur.execute("UPDATE orders SET status=?, updated_ts=? WHERE order_id=?",
                (state.value, str(ts), order_id))


def save_match(cur: Cursor, order_id: int, state: StopState | TrailingStop,
               updated_ts: Decimal | None) -> None:
    """Write a stop's trigger time (and a trailing stop's peak and tracking start)."""
    peak, tracking = ((state.peak, state.tracking_ts) if isinstance(state, TrailingStop)
                      else (None, None))
    cur.execute(
        "UPDATE orders SET triggered_ts=?, peak=?, trailing_ts=?, "
        "updated_ts=COALESCE(?, updated_ts) WHERE order_id=?",
        (str_or_none(state.triggered_ts), str_or_none(peak), str_or_none(tracking),
         str_or_none(updated_ts), order_id),
    )


def record_fill(
    cur: Cursor, order_id: int, symbol: str, side: Side, price: Decimal, qty: Decimal,
    commission: Decimal, commission_asset: str, ts: Decimal, time: str, *, is_maker: bool,
) -> None:
    """The trade row of one full fill, and the order's totals."""
    notional = price * qty
    cur.execute(
        "INSERT INTO trades(order_id, symbol, side, price, qty, quote_qty, commission, "
        "commission_asset, is_maker, ts, time) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (order_id, symbol, side.value, str(price), str(qty), str(notional), str(commission),
         commission_asset, int(is_maker), str(ts), time),
    )
    cur.execute(
        "UPDATE orders SET status=?, executed_qty=?, quote_qty=?, updated_ts=? "
        "WHERE order_id=?",
        (OrderState.FILLED.value, str(qty), str(notional), str(ts), order_id),
    )


def open_stop_rows(cur: Cursor, symbol: str | None) -> list[tuple]:
    """(order_id, symbol, qty, limit, stop, triggered_ts, type, trailing_delta, peak,
    trailing_ts) of every open stop, in order id order."""
    sql = ("SELECT order_id, symbol, qty, price, stop_price, triggered_ts, type, "
           "trailing_delta, peak, trailing_ts FROM orders WHERE status IN (?, ?) "
           f"AND type IN ({','.join('?' * len(STOP_TYPES))})")
    args: tuple = (*OPEN, *STOP_TYPES)
    if symbol is not None:
        sql, args = sql + " AND symbol=?", (*args, symbol)
    return cur.execute(sql + " ORDER BY order_id", args).fetchall()


def open_limit_rows(cur: Cursor, symbol: str | None) -> list[tuple]:
    """(order_id, symbol, side, qty, price) of every open LIMIT order, in order id order."""
    sql = ("SELECT order_id, symbol, side, qty, price FROM orders WHERE status IN (?, ?) "
           "AND type=?")
    args: tuple = (*OPEN, OrderType.LIMIT.value)
    if symbol is not None:
        sql, args = sql + " AND symbol=?", (*args, symbol)
    return cur.execute(sql + " ORDER BY order_id", args).fetchall()


def stop_state(row: tuple) -> StopState | TrailingStop:
    """The fill-model state of one ``open_stop_rows`` row."""
    _, _, _, limit, stop, triggered, type_, delta, peak, tracking = row
    if delta is None:
        return StopState(stop=Decimal(stop), limit=Decimal(limit),
                         triggered_ts=dec_or_none(triggered))
    return TrailingStop(
        delta=int(delta), limit=Decimal(limit), activation=dec_or_none(stop),
        take_profit=type_ == TAKE_PROFIT_LIMIT, peak=dec_or_none(peak),
        tracking_ts=dec_or_none(tracking), triggered_ts=dec_or_none(triggered),
    )


def trades(cur: Cursor, symbol: str | None, order_id: int | None, from_id: int | None,
           limit: int | None) -> list[BookTrade]:
    where, args = ["1=1"], []
    for clause, value in (("t.symbol=?", symbol), ("t.order_id=?", order_id),
                          ("t.trade_id>=?", from_id)):
        if value is not None:
            where.append(clause)
            args.append(value)
    sql = (f"SELECT {TRADE_COLUMNS} FROM trades t JOIN orders o USING (order_id) "
           f"WHERE {' AND '.join(where)} ORDER BY t.trade_id")
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [trade_from_row(row) for row in cur.execute(sql, args).fetchall()]


def order_report(cur: Cursor, row: tuple) -> BookOrder:
    """A row of ``ORDER_COLUMNS`` as a report, with its executions."""
    (order_id, client_order_id, symbol, side, type_, qty, price, stop, status, executed,
     quote_qty, triggered, created, updated, delta, peak, tracking) = row
    executions = ()
    if Decimal(executed) > 0:
        executions = tuple(t.execution() for t in trades(cur, None, order_id, None, None))
    take_profit = type_ == TAKE_PROFIT_LIMIT
    return BookOrder(
        client_order_id=client_order_id, symbol=symbol, side=Side(side),
        type=OrderType.STOP_LOSS_LIMIT if take_profit else OrderType(type_),
        state=OrderState(status), qty=Decimal(qty), executed_qty=Decimal(executed),
        stop_price=dec_or_none(stop), limit_price=dec_or_none(price),
        exchange_order_id=str(order_id), executions=executions,
        triggered=triggered is not None, triggered_ts=dec_or_none(triggered),
        order_id=order_id, quote_qty=Decimal(quote_qty), created_ts=Decimal(created),
        updated_ts=Decimal(updated), take_profit=take_profit,
        trailing_delta=None if delta is None else int(delta), peak=dec_or_none(peak),
        trailing_ts=dec_or_none(tracking),
    )


def order_by_id(cur: Cursor, order_id: int) -> BookOrder:
    row = cur.execute(f"SELECT {ORDER_COLUMNS} FROM orders WHERE order_id=?",
                      (order_id,)).fetchone()
    return order_report(cur, row)


def orders(cur: Cursor, where: str, args: tuple, symbol: str | None) -> list[BookOrder]:
    if symbol is not None:
        where, args = f"{where} AND symbol=?", (*args, symbol)
    rows = cur.execute(
        f"SELECT {ORDER_COLUMNS} FROM orders WHERE {where} ORDER BY order_id", args
    ).fetchall()
    return [order_report(cur, row) for row in rows]
