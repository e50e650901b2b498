"""Price CSV files for replay (DESIGN.md §6).

The file has a header. Its columns are ``timestamp`` and either ``price`` (one price a row) or
``open,high,low,close`` (one bar a row); other columns (``volume``) are ignored. When both
``price`` and the bar columns are present, ``price`` is used. ``timestamp`` is ISO 8601 (with or
without ``Z``/an offset; a naive time is UTC) or epoch milliseconds (digits only).

A bar becomes four prices carrying the bar's timestamp: ``open, low, high, close`` when
``close >= open``, else ``open, high, low, close``. Bars are taken as given: a bar whose high
is below its open or close is not refused.

Every problem is an ``InputError`` with one line naming the file and the row; a row is
numbered as its line in the file (the header is line 1).
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from core.errors import InputError

BAR_COLUMNS = ("open", "high", "low", "close")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # a naive time is UTC
_THOUSAND = Decimal(1000)
_SECONDS_PER_DAY = 86400


@dataclass(frozen=True, slots=True)
class PricePoint:
    """One price: ``ts`` in epoch seconds, ``time`` the timestamp exactly as the file gave it."""

    ts: Decimal
    time: str
    price: Decimal


def read_prices(path: str | Path) -> list[PricePoint]:
    """Every price of the file, in order. Raises ``InputError`` on any malformed row.

    A name ending in ``.gz`` is read through gzip, so the bundled ``data/btc-1m.csv.gz`` replays
    as it is.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rt", newline="", encoding="utf-8-sig") as f:
            return _parse(path, csv.reader(f))
    except (gzip.BadGzipFile, EOFError):
        raise InputError(f"{path}: not a gzip file, or cut short") from None
    except FileNotFoundError:
        raise InputError(f"{path}: not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    except PermissionError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None


def _parse(path: str | Path, reader) -> list[PricePoint]:
    points: list[PricePoint] = []
    append = points.append
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            raise InputError(f"{path}: empty file")
        columns = [cell.strip().lower() for cell in header]
        ts_col, price_cols = _columns(path, reader.line_num, columns)
        width = max(ts_col, *price_cols) + 1
        last_ts: Decimal | None = None
        last_time = ""
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) < width or len(row) > len(columns):
                raise InputError(f"{path}: row {reader.line_num}: has {len(row)} columns, the "
                                 f"header has {len(columns)}")
            time = row[ts_col].strip()
            ts = _timestamp(path, reader.line_num, time)
            if last_ts is not None and ts < last_ts:
                raise InputError(f"{path}: row {reader.line_num}: timestamp {time} is earlier "
                                 f"than the previous row's {last_time}")
            last_ts, last_time = ts, time
            prices = _prices(path, reader.line_num, columns, row, price_cols)
            if len(prices) == 4:
                o, h, low, c = prices
                prices = (o, low, h, c) if c >= o else (o, h, low, c)
            for price in prices:
                append(PricePoint(ts, time, price))
    except csv.Error as exc:
        raise InputError(f"{path}: row {reader.line_num}: not valid CSV: {exc}") from None
    if not points:
        raise InputError(f"{path}: no data rows after the header")
    return points


def _columns(path: str | Path, line: int, columns: list[str]) -> tuple[int, tuple[int, ...]]:
    if "timestamp" not in columns:
        first = columns[0] if columns else ""
        if first[:1].isdigit():
            raise InputError(f"{path}: row {line}: no header: the first line must name the "
                             "columns (timestamp and price, or timestamp,open,high,low,close)")
        raise InputError(f"{path}: row {line}: missing column timestamp")
    ts_col = columns.index("timestamp")
    if "price" in columns:
        return ts_col, (columns.index("price"),)
    present = [c for c in BAR_COLUMNS if c in columns]
    if not present:
        raise InputError(f"{path}: row {line}: missing column price (or open,high,low,close)")
    missing = [c for c in BAR_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"{path}: row {line}: missing column {','.join(missing)}")
    return ts_col, tuple(columns.index(c) for c in BAR_COLUMNS)


def _prices(path: str | Path, line: int, columns: list[str], row: list[str],
            cols: tuple[int, ...]) -> tuple[Decimal, ...]:
    """The row's price (or open, high, low, close), each finite and > 0."""
    try:
        values = tuple(Decimal(row[i]) for i in cols)
        if all(v.is_finite() and v > 0 for v in values):
            return values
    except InvalidOperation:
        pass
    for i in cols:  # the slow path: name the first bad column
        text = row[i].strip()
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite():
            raise InputError(f"{path}: row {line}: bad number in column {columns[i]}: {text!r}")
        if value <= 0:
            raise InputError(f"{path}: row {line}: price must be > 0 in column {columns[i]} "
                             f"(got {text})")
    raise AssertionError("unreachable: some column was bad")


def _timestamp(path: str | Path, line: int, text: str) -> Decimal:
    """Epoch seconds, exactly: epoch milliseconds / 1000, or an ISO 8601 time (naive = UTC)."""
    if text.isdigit():
        return Decimal(int(text)) / _THOUSAND
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{path}: row {line}: bad timestamp {text!r} (want ISO 8601 or epoch "
                         "milliseconds)") from None
    delta = dt - (_NAIVE_EPOCH if dt.tzinfo is None else _EPOCH)
    seconds = Decimal(delta.days * _SECONDS_PER_DAY + delta.seconds)
    if delta.microseconds:
        seconds += Decimal(delta.microseconds).scaleb(-6)
    return seconds
