"""Test-only control endpoints under ``/sim/...``: not Binance's namespace, no auth, no limits.

They change the venue "from outside" (a price, a cancel, an order) exactly as the venue itself
would, so the engine sees the same events it would see from Binance.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from core.errors import VenueError
from core.money import to_decimal
from core.types import Side
from exchange.sim import wire
from exchange.sim.api import venue_error
from exchange.sim.faults import Faults
from exchange.sim.guard import SimError
from exchange.sim.late import LateOrders
from exchange.sim.venue import SimVenue


class Control:
    """``handle(method, path, payload) -> (status, body)``."""

    def __init__(
        self, venue: SimVenue, faults: Faults, *, paused: Callable[[], bool],
        pause: Callable[[bool], None], counts: Callable[[], dict[str, int]],
        reset_counts: Callable[[], None], late: LateOrders,
    ) -> None:
        self.venue = venue
        self.faults = faults
        self.late = late
        self._paused, self._pause = paused, pause
        self._counts, self._reset_counts = counts, reset_counts

    def handle(self, method: str, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        route = {
            ("GET", "/sim/info"): self.info,
            ("POST", "/sim/price"): self.price,
            ("POST", "/sim/pause"): self.pause,
            ("POST", "/sim/force"): self.force,
            ("POST", "/sim/block"): self.block,
            ("POST", "/sim/clock"): self.clock,
            ("POST", "/sim/garble"): self.garble,
            ("POST", "/sim/cancel"): self.cancel,
            ("POST", "/sim/order"): self.order,
            ("POST", "/sim/balance"): self.balance,
            ("POST", "/sim/status"): self.status,
            ("POST", "/sim/ws/shutdown"): self.ws_shutdown,
            ("GET", "/sim/orders"): self.orders,
            ("GET", "/sim/trades"): self.trades,
            ("GET", "/sim/requests"): self.requests,
            ("POST", "/sim/requests/reset"): self.reset_requests,
        }.get((method, path.rstrip("/")))
        if route is None:
            return 404, {"code": -1, "msg": f"no control endpoint {method} {path}"}
        try:
            return 200, route(payload)
        except VenueError as exc:
            raise venue_error(exc) from None

    def info(self, payload: dict[str, Any]) -> dict[str, Any]:
        book = self.venue.book
        return {
            "symbols": book.symbols(),
            "prices": {s: str(p) for s, p in book.last_prices().items()},
            "server_time": self.venue.clock.now_ms(),
            "paused": self._paused(),
            "late": self.late.counts(),
            "status": book.statuses(),
            "held_prices": {s: str(p) for s, p in self.venue.held_prices().items()},
            "ws": self.venue.hub.connections(),
        }

    def price(self, payload: dict[str, Any]) -> dict[str, Any]:
        price = _decimal(payload, "price")
        self.venue.book.filters(payload["symbol"])
        traded = self.venue.on_price(payload["symbol"], price, None)
        return {"symbol": payload["symbol"], "price": str(price), "traded": traded}

    def pause(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._pause(bool(payload.get("paused", True)))
        return {"paused": self._paused()}

    def force(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload["kind"] == "late":
            delay = payload.get("delay_s")
            self.faults.force_late(count=int(payload.get("count", 1)),
                                   delay_s=None if delay is None else float(delay),
                                   answer=str(payload.get("answer", "-1007")))
            return {"forced": "late"}
        self.faults.force(
            str(payload["kind"]), retry_after_s=int(payload.get("retry_after_s", 5)),
            count=int(payload.get("count", 1)),
        )
        return {"forced": payload["kind"]}

    def block(self, payload: dict[str, Any]) -> dict[str, Any]:
        kind = payload.get("kind")
        self.faults.block_stops(str(payload["symbol"]), None if kind is None else str(kind),
                                retry_after_s=int(payload.get("retry_after_s", 1)))
        return {"symbol": payload["symbol"], "blocked": kind}

    def garble(self, payload: dict[str, Any]) -> dict[str, Any]:
        count = int(payload.get("count", 1))
        self.venue.hub.garble(count)
        return {"garbled": count}

    def clock(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.venue.clock.shift_ms = int(payload["shift_ms"])
        return {"server_time": self.venue.clock.now_ms()}

    def cancel(self, payload: dict[str, Any]) -> dict[str, Any]:
        order = self.venue.cancel(
            payload["symbol"], payload.get("origClientOrderId"),
            int(payload["orderId"]) if payload.get("orderId") else None,
        )
        return wire.order_json(order)

    def order(self, payload: dict[str, Any]) -> dict[str, Any]:
        symbol, client_id = payload["symbol"], payload["newClientOrderId"]
        qty = _decimal(payload, "quantity")
        kind = payload.get("type", "STOP_LOSS_LIMIT")
        if kind == "MARKET":
            order = self.venue.market(symbol, Side(payload.get("side", "BUY")), qty, client_id)
        elif kind == "LIMIT":  # GTC, either side: another client's order on the account
            order = self.venue.limit(symbol, Side(payload["side"]), qty,
                                     _decimal(payload, "price"), client_id)
        elif kind in ("STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
            delta = payload.get("trailingDelta")
            order = self.venue.stop_limit(
                symbol, qty, _decimal(payload, "stopPrice") if "stopPrice" in payload else None,
                _decimal(payload, "price"), client_id,
                trailing_delta=None if delta is None else int(delta),
                take_profit=kind == "TAKE_PROFIT_LIMIT",
            )
        else:
            raise SimError(400, -1116, "Invalid orderType.")
        return wire.order_json(order)

    def status(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A symbol's trading status; ``expire_orders`` expires its open orders."""
        symbol, status = str(payload["symbol"]), str(payload["status"])
        expired = self.venue.set_status(symbol, status,
                                        expire_orders=bool(payload.get("expire_orders", False)))
        return {"symbol": symbol, "status": status,
                "expired": [o.client_order_id for o in expired]}

    def ws_shutdown(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``serverShutdown`` now on the ``user`` (WebSocket API), ``market`` or ``all``
        connections, cut ``notice_s`` later."""
        count = self.venue.hub.shutdown(str(payload.get("kind", "all")),
                                        float(payload.get("notice_s", 1)))
        return {"connections": count}

    def balance(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.venue.set_balance(payload["asset"], _decimal(payload, "free"))
        return {"asset": payload["asset"], "free": str(payload["free"])}

    def orders(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        return [wire.order_json(o) for o in self.venue.book.all_orders()]

    def trades(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        return [wire.trade_json(t) for t in self.venue.book.trades()]

    def requests(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"counts": self._counts()}

    def reset_requests(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._reset_counts()
        return {"counts": {}}


def _decimal(payload: dict[str, Any], name: str) -> Decimal:
    """Control bodies are parsed with ``parse_float=Decimal``; strings work too."""
    return to_decimal(payload[name], what=name)
