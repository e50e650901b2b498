"""Errors, named for what the caller should do, and declared once.

::

    RatchetError
     ├─ ConfigError              refuse to start                       (exit 2)
     │   └─ UnknownStops         open stops of our prefix the DB lacks (exit 2)
     ├─ InputError               bad CLI argument or input file        (exit 2)
     ├─ StoreError               the DB cannot be used as asked        (exit 2)
     │   ├─ SchemaTooNew         written by a newer Ratchet; untouched
     │   └─ WrongPassword        SQLCipher key does not open the file
     ├─ Unavailable              not now: a restart later may succeed  (exit 75)
     │   ├─ DatabaseLocked       another live engine holds the DB
     │   ├─ StoreUnavailable     read-only or full disk, an I/O error
     │   └─ VenueUnreachable     the venue did not answer at boot
     ├─ VenueError
     │   ├─ RetryableVenueError  back off, then retry
     │   ├─ StatusUnknown        query before anything else
     │   ├─ VenueBanned          418: stop sending, alert
     │   ├─ OrderRejected        record it, never retry as is
     │   │   ├─ BelowMinNotional an entry too small for the symbol   (exit 2 in replay)
     │   │   └─ EntryRefused     an entry refused for good            (exit 2 in replay)
     │   ├─ UnknownOrder         -2011: the venue has no such order; re-query
     │   └─ AuthError            wrong key or secret: refuse to start  (exit 2)
     ├─ SafetyHalt               a safety rule stopped trading         (exit 3)
     │   └─ StorageFailed        the DB cannot commit (disk full, I/O)
     └─ InvariantViolation       crash the actor

Every error carries a one-line message meant for a person; the CLI prints it as is. The exit
code says whether a restart can help: 2 (bad input) needs a person to change something; 75
(``EX_TEMPFAIL``) is the environment, so a service manager restarts it; 1 and 3 are restarted
too (a crash-only engine reconciles at every boot).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_BAD_INPUT = 2
EXIT_HALTED = 3
EXIT_UNAVAILABLE = 75  # sysexits.h EX_TEMPFAIL: try again later


class RatchetError(Exception):
    """Root of every error Ratchet raises on purpose."""

    exit_code = EXIT_RUNTIME


class ConfigError(RatchetError):
    """The configuration is invalid: refuse to start."""

    exit_code = EXIT_BAD_INPUT


class InputError(RatchetError):
    """A CLI argument or an input file is invalid."""

    exit_code = EXIT_BAD_INPUT


class StoreError(RatchetError):
    """The database cannot be opened or used as asked. The file is left untouched."""

    exit_code = EXIT_BAD_INPUT


class UnknownStops(ConfigError):
    """Boot found open stops with our client id prefix that the DB does not know, protecting
    coins the account holds: another engine on this key and prefix, or a DB older than the
    venue. Nothing was changed."""


class Unavailable(RatchetError):
    """Something outside Ratchet is not available now; a restart later may succeed."""

    exit_code = EXIT_UNAVAILABLE


class DatabaseLocked(Unavailable):
    """Another live process holds the database's lock file."""


class StoreUnavailable(Unavailable):
    """The DB's filesystem is read-only or full, or failed with an I/O error."""


class VenueUnreachable(Unavailable):
    """The venue did not answer at boot (connection refused, DNS, timeouts)."""


class SchemaTooNew(StoreError):
    """The database was written by a newer Ratchet."""


class WrongPassword(StoreError):
    """The SQLCipher password does not open the database."""


class VenueError(RatchetError):
    """The exchange answered with an error, or did not answer."""

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class RetryableVenueError(VenueError):
    """Nothing happened on the venue; back off, then retry the same request."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw):
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class StatusUnknown(VenueError):
    """The request may or may not have taken effect: query by client id before anything else."""


class VenueBanned(VenueError):
    """HTTP 418: stop all sending until ``retry_after_s`` has passed, and raise the alert."""

    def __init__(self, message: str, *, retry_after_s: float, **kw):
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class OrderRejected(VenueError):
    """The venue refused the order (-2010, -1013, a filter): record it, never retry it as is."""


class UnknownOrder(VenueError):
    """-2011: the venue does not know the order (it may have filled): re-query."""


class AuthError(VenueError):
    """The API key or secret is wrong: refuse to start."""

    exit_code = EXIT_BAD_INPUT


class SafetyHalt(RatchetError):
    """A safety rule halted trading; exchange stops stay in place."""

    exit_code = EXIT_HALTED


class StorageFailed(SafetyHalt):
    """The DB could not commit (disk full, I/O error): trading halts; exchange stops stay."""


class InvariantViolation(RatchetError):
    """Data broke an invariant. The actor that sees it crashes and the Supervisor decides."""


# Binance error codes, grouped by what the caller should do (DESIGN.md §4). -1006 (an unexpected
# response from the message bus), -1007 (timeout) and -1008 (server busy) leave the execution
# status unknown; so does an HTTP 403 from the WAF in front of the API.
_UNKNOWN_STATUS_CODES = frozenset({-1006, -1007, -1008})
_REJECTION_CODES = frozenset({-2010, -1013, -1111, -1100, -1102, -1106})
_RETRY_CODES = frozenset({-1021, -1003, -1015})


def should_retry(*, code: int | None, http_status: int | None) -> bool:
    """Whether a failed request may be sent again unchanged.

    Only requests that certainly did not take effect are retried as is: 429 and the codes for
    rate limits and clock skew. An unknown status (5xx, -1007, a timeout) is never retried blind;
    the caller queries by client id first.
    """
    return http_status == 429 or code in _RETRY_CODES


def is_status_unknown(*, code: int | None, http_status: int | None) -> bool:
    """Whether the outcome of an order request is unknown (403, 5xx, -1006, -1007, -1008)."""
    if code in _UNKNOWN_STATUS_CODES:
        return True
    return http_status is not None and (http_status >= 500 or http_status == 403)


def is_rejection(*, code: int | None) -> bool:
    """Whether the venue refused the order for good."""
    return code in _REJECTION_CODES


# Binance's text for a lack of funds (errors.md, "Messages for -1010, -2010, -2011"): an entry
# refused for it backs off, any other refusal of an entry halts entries. What a refusal of a
# protective order means is ``core.refusals``.
INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."


def is_insufficient_balance(*, code: int | None, reason: str) -> bool:
    """Whether a rejection says the account lacks the funds: money may still arrive, so the
    order may be tried again later; any other rejection will not fix itself."""
    return code == -2010 and "insufficient balance" in reason.lower()


class BelowMinNotional(OrderRejected):
    """An order's notional (qty × price) is below the symbol's min_notional: refused locally."""

    exit_code = EXIT_BAD_INPUT


class EntryRefused(OrderRejected):
    """The venue refused an entry buy for a reason that will not fix itself (replay stops)."""

    exit_code = EXIT_BAD_INPUT
