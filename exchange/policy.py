"""The one venue-call policy: what a failed call means, and how long to wait before the next.

Every caller of the venue uses it: the Gateway (``decide``, then it schedules the next try
instead of sleeping), boot reconciliation's reads (``read``) and its order sends (``send``).
The errors are already classified once, by code, into the ``core.errors`` tree (for Binance in
``exchange.binance.errors``); this module says what each class asks of the caller:

==========================  ==========  ==================================================
error                       decision    what the caller does
==========================  ==========  ==================================================
``VenueBanned`` (418)       BANNED      send nothing until ``retry_after_s`` has passed
``RetryableVenueError``     RETRY       nothing happened: send the same request again after
(429, -1003, -1015, -1021)              ``retry_after_s`` (-1021: the adapter resynced the
                                        clock first)
``StatusUnknown``           UNKNOWN     never resend blind: query by client id, with backoff
(timeout, 5xx, -1007)
``UnknownOrder`` (-2011,    MISSING     the venue has no such order (it may have filled:
-2013)                                  query once before believing it)
``OrderRejected``           REJECTED    record it; never retry as is
==========================  ==========  ==================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from core.errors import (
    RetryableVenueError,
    StatusUnknown,
    UnknownOrder,
    VenueBanned,
    VenueError,
)

T = TypeVar("T")

FIRST_BACKOFF_S = 0.05
MAX_BACKOFF_S = 5.0
READ_ATTEMPTS = 6  # about 1.5 s of asking again before a boot read gives up
DEFAULT_RETRY_S = 0.5


class Verdict(StrEnum):
    RETRY = "retry"
    UNKNOWN = "unknown"
    BANNED = "banned"
    MISSING = "missing"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    delay_s: float = 0.0  # how long until the next try (a query, or the same request)


def backoff_s(attempt: int) -> float:
    """0.05 s, doubling per attempt (1 for the first), capped at 5 s."""
    return min(FIRST_BACKOFF_S * 2 ** max(attempt - 1, 0), MAX_BACKOFF_S)


def decide(error: VenueError, attempt: int = 1) -> Decision:
    """What ``error`` (the ``attempt``-th in a row for this request) asks of the caller."""
    if isinstance(error, VenueBanned):
        return Decision(Verdict.BANNED, error.retry_after_s)
    if isinstance(error, RetryableVenueError):
        wait = error.retry_after_s
        return Decision(Verdict.RETRY, DEFAULT_RETRY_S if wait is None else wait)
    if isinstance(error, StatusUnknown):
        return Decision(Verdict.UNKNOWN, backoff_s(attempt))
    if isinstance(error, UnknownOrder):
        return Decision(Verdict.MISSING)
    return Decision(Verdict.REJECTED)


def read(call: Callable[[], T], *, attempts: int = READ_ATTEMPTS,
         sleep: Callable[[float], None] = time.sleep) -> T:
    """A read, asked again while the answer is unclear, rate limited or banned: a read changes
    nothing on the venue, so asking again is always safe. The last error is raised after
    ``attempts`` tries; a rejection or a missing order at once."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except VenueError as exc:
            decision = decide(exc, attempt)
            if decision.verdict in (Verdict.MISSING, Verdict.REJECTED) or attempt == attempts:
                raise
            sleep(decision.delay_s)
    raise AssertionError("unreachable")


def send(call: Callable[[], T], *, sleep: Callable[[float], None] = time.sleep,
         closing: Callable[[], bool] = lambda: False) -> T:
    """An order request outside the Gateway (boot recovery). Sent again only when the venue
    certainly did nothing (rate limit, ban, clock skew): a restart with many stops to re-place
    must not fail at the order limit. An unclear answer is raised, never resent blind."""
    while True:
        try:
            return call()
        except (RetryableVenueError, VenueBanned) as exc:
            if closing():
                raise StatusUnknown(f"not sent: shutting down ({exc})") from exc
            sleep(decide(exc).delay_s)
