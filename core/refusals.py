"""Why the venue refused an order, as the one class that says what the pair does next.

A pair that holds coins never stops protecting them: halting is for entries only. Every refusal
of a protective order (a stop for held coins, or a sale at market) falls into one class, and each
class has one answer (docs/DESIGN.md, "The refusal table"):

=================  ============================================  =====================================
class              what the venue said                           the pair's answer
=================  ============================================  =====================================
WOULD_TRIGGER      -2010 "... would trigger immediately."        exit at market (written ahead)
                   (the docs' "Order would ..." and the live
                   "Stop price would ...")
ALGO_CAP           "Filter failure: MAX_NUM_ALGO_ORDERS"          cancel our stray stops, place one
                   (-2010 live, -1013 in older docs)
MARKET_CLOSED      "Market is closed." (-1013 live, -2010 in      wait for TRADING (the symbol's status,
                   errors.md): BREAK, HALT, CANCEL_ONLY, ...;     read with backoff), then protect at
                   or an open order EXPIRED by the venue          once; exit if the price is through
FILTER             -1013 "Filter failure: PRICE_FILTER |          fit the order again from fresh filters
                   PERCENT_PRICE(_BY_SIDE) | LOT_SIZE |           and the last price, once; if it still
                   MARKET_LOT_SIZE | NOTIONAL | MIN_NOTIONAL"     cannot fit, exit at market
INSUFFICIENT       -2010 "Account has insufficient balance ..."   read the account: coins gone, close as
                                                                 sold outside Ratchet; part left,
                                                                 protect what is left
OTHER              anything else                                 retry with backoff (1 s doubling to
                                                                 60 s), flagged unprotected; after
                                                                 ``unprotected_exit_s``, exit at market
=================  ============================================  =====================================

An outcome that is not known (HTTP 403 from the WAF, 5xx, -1006, -1007, -1008, a timeout) is not a
refusal: the Gateway queries the order by client id until ``timestamp + recvWindow`` and a margin
have passed (``exchange.policy``), and the pair hears the answer.

Texts are matched by the words that carry the meaning, case-insensitively, not whole, and under
either code where the live venue codes a refusal differently from errors.md
(``exchange/sim/PROTOCOL.md``: "Stop price would ...", the algo cap and "Market is closed." as the
live venue answers them).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

CODE_FILTER_FAILURE = -1013
CODE_NEW_ORDER_REJECTED = -2010

# The filters an order can be made to fit (price grid and bands, quantity, notional); the
# order-count filters (MAX_NUM_ORDERS, MAX_NUM_ALGO_ORDERS) are not among them.
FITTABLE_FILTERS = ("PERCENT_PRICE_BY_SIDE", "PERCENT_PRICE", "PRICE_FILTER", "MARKET_LOT_SIZE",
                    "LOT_SIZE", "MIN_NOTIONAL", "NOTIONAL", "TRAILING_DELTA")

RETRY_FIRST_S = Decimal(1)
RETRY_MAX_S = Decimal(60)


class Refusal(StrEnum):
    WOULD_TRIGGER = "would_trigger"
    ALGO_CAP = "algo_cap"
    MARKET_CLOSED = "market_closed"
    FILTER = "filter"
    INSUFFICIENT = "insufficient"
    OTHER = "other"


def classify(*, code: int | None, reason: str) -> Refusal:
    """The class of a refusal, from its Binance code and message."""
    text = reason.lower()
    both = (CODE_NEW_ORDER_REJECTED, CODE_FILTER_FAILURE)
    if "max_num_algo_orders" in text and code in both:
        return Refusal.ALGO_CAP
    if "market is closed" in text and code in both:
        return Refusal.MARKET_CLOSED
    if code == CODE_NEW_ORDER_REJECTED:
        if "would trigger immediately" in text:
            return Refusal.WOULD_TRIGGER
        if "insufficient balance" in text:
            return Refusal.INSUFFICIENT
    if code == CODE_FILTER_FAILURE and any(name.lower() in text for name in FITTABLE_FILTERS):
        return Refusal.FILTER
    return Refusal.OTHER


def retry_delay_s(attempt: int) -> Decimal:
    """How long to wait before the ``attempt``-th retry (1 for the first): 1 s doubling, at
    most 60 s."""
    return min(RETRY_FIRST_S * 2 ** max(attempt - 1, 0), RETRY_MAX_S)
