"""The unit of work: rows that commit together in one ``BEGIN IMMEDIATE`` transaction.

It belongs to the store, not to the actors: the repository applies it, the DBWriter carries it
(``actors.messages`` re-exports it), and nothing here knows who sent it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.types import Fill, Order, Position


@dataclass(frozen=True, slots=True, kw_only=True)
class Persist:
    """A unit of work: every row in it commits in the same ``BEGIN IMMEDIATE`` transaction.

    The DBWriter writes it durably (``actors.db_writer.durable``: the call returns once it is
    committed, or raises the error that rolled it back), or as a plain tell for state that may
    be coalesced (a position's latest values).
    """

    positions: tuple[Position, ...] = ()
    orders: tuple[Order, ...] = ()
    fills: tuple[Fill, ...] = ()
    kv: tuple[tuple[str, str], ...] = ()


def collapse_units(units: Iterable[Persist]) -> Persist:
    """Merge units into one, keeping only the last save of each position, order and kv key.

    Every row is written whole, so the last save of a key carries everything the earlier ones
    did. Fills are kept in order; recording one twice is a no-op anyway. The merged rows keep
    the order in which each key was last saved.
    """
    positions: dict[str, Position] = {}
    orders: dict[str, Order] = {}
    kv: dict[str, str] = {}
    fills: list[Fill] = []
    for unit in units:
        for position in unit.positions:
            positions.pop(position.position_id, None)
            positions[position.position_id] = position
        for order in unit.orders:
            orders.pop(order.client_order_id, None)
            orders[order.client_order_id] = order
        fills.extend(unit.fills)
        for key, value in unit.kv:
            kv[key] = value
    return Persist(positions=tuple(positions.values()), orders=tuple(orders.values()),
                   fills=tuple(fills), kv=tuple(kv.items()))
