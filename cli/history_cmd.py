"""``ratchet history SYMBOL --interval 1m --start 2024-01-01 [--end ...] -o FILE.csv``.

Downloads klines through python-binance (``Client.get_historical_klines_generator``; public
market data, no keys) and writes the CSV ``ratchet replay`` reads:
``timestamp,open,high,low,close,volume`` with ``timestamp`` the bar's open time in epoch
milliseconds and the prices as Binance sent them (exact decimal strings).

- Where: ``--base-url``, else ``[exchange] base_url`` of the config (``-c``; the sim is
  ``http://127.0.0.1:PORT``), else the testnet when the config says ``testnet = true``, else
  Binance.
- Times are UTC: ``--start`` is the first open time (a date, a date and time, or epoch ms);
  ``--end`` is exclusive (default: now). A bar that has not closed yet is never written, so a
  resumed file never holds a half-built bar.
- Resume: when FILE exists, the download continues after its last complete row (a torn last
  line, from a kill in the middle of a write, is cut off first), so no bar is written twice or
  skipped. An existing file that ends before ``--start`` is refused (it would leave a gap).
- Weight: the REQUEST_WEIGHT limit comes from ``exchangeInfo`` (which also checks the
  symbol); after each response ``X-MBX-USED-WEIGHT-1M`` is read, and once the next request
  could take it past 90% of the limit the download waits for the next minute. A 429 (or a
  short 418) waits out its ``Retry-After`` and resumes.
- A progress bar (rich) is drawn when stderr is a terminal; the summary line goes to stdout.

Exit codes: 0 done; 1 the download failed (run the same command again: it resumes); 2 bad
input (arguments, unknown symbol or interval, an output that is not such a CSV).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from binance.client import Client
from binance.exceptions import BinanceAPIException, BinanceRequestException
from binance.helpers import interval_to_milliseconds

from cli.main import add_config_arg
from core.config import load_config
from core.errors import InputError, RatchetError

HEADER = "timestamp,open,high,low,close,volume"
BINANCE_URL = "https://api.binance.com"
TESTNET_URL = "https://testnet.binance.vision"
PAGE = 1000  # klines per request, Binance's maximum
KLINES_WEIGHT = 2
DEFAULT_WEIGHT_LIMIT = 6000
WEIGHT_HEADROOM = 0.9
LONGEST_WAIT_S = 300  # a longer ban ends the run (exit 1); the next run resumes
_TAIL = 64 * 1024


class DownloadFailed(RatchetError):
    """The download stopped part-way; the file holds every bar written so far."""

    exit_code = 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("history", help="download klines to a CSV that ratchet replay reads",
                       description="Download klines through python-binance (no keys needed) "
                                   "into TIMESTAMP,OPEN,HIGH,LOW,CLOSE,VOLUME CSV; an existing "
                                   "file is resumed after its last row.")
    p.add_argument("symbol", metavar="SYMBOL", help="e.g. BTCUSDT")
    p.add_argument("--interval", default="1m", help="kline interval (default: %(default)s)")
    p.add_argument("--start", required=True,
                   help="first open time, UTC: 2024-01-01, 2024-01-01T12:30 or epoch ms")
    p.add_argument("--end", help="end time, UTC, exclusive (default: now)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.csv", help="the CSV to write")
    p.add_argument("--base-url", metavar="URL",
                   help="REST base URL (default: [exchange] base_url of the config, else "
                        "Binance)")
    add_config_arg(p)
    p.set_defaults(handler=history)


def history(args: argparse.Namespace) -> int:
    symbol = args.symbol.upper()
    interval_ms = interval_to_milliseconds(args.interval)
    if not interval_ms or args.interval.endswith("s"):
        raise InputError(f"--interval {args.interval}: not a kline interval (1m, 5m, 1h, 1d, ...)")
    start = parse_time(args.start, "--start")
    now = int(time.time() * 1000)
    end = parse_time(args.end, "--end") if args.end else now
    # Open times up to ``last_open`` have closed: a bar still forming is never written.
    last_open = min(end - 1, now - now % interval_ms - interval_ms)
    if last_open < start:
        raise InputError("--end must be after --start (and in the past): nothing to download")
    out = Path(args.output)
    resumed_after = resume_point(out)
    if resumed_after is not None:
        if resumed_after + interval_ms < start:
            raise InputError(f"{out}: ends at {resumed_after}, before --start {start}: resuming "
                             "would leave a gap (choose another -o)")
        start = resumed_after + interval_ms
    client = make_client(base_url(args))
    limit = weight_limit(client, symbol)
    client.session.hooks["response"].append(WeightGuard(limit).hook)
    total = max(0, (last_open - start) // interval_ms + 1)
    created = not out.exists()
    written, last = download(client, symbol, args.interval, interval_ms, start, last_open, out,
                             total, resumed_after)
    if written == 0 and resumed_after is None:
        if created:
            out.unlink(missing_ok=True)  # only the header: leave no file behind
        raise InputError(f"history: no {args.interval} klines of {symbol} from {iso(start)} to "
                         f"{iso(last_open + interval_ms)} (UTC) at {base_url(args)}: choose "
                         "another --start/--end (before the symbol was listed?)")
    where = f"resumed after {resumed_after}" if resumed_after is not None else "new file"
    print(f"history: {symbol} {args.interval}: wrote {written} klines to {out} ({where}; "
          f"last open time {last if last is not None else resumed_after})")
    return 0


def iso(ms: int) -> str:
    """Epoch milliseconds as UTC, to the minute: ``2024-01-01 00:00``."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")  # display


def parse_time(text: str, what: str) -> int:
    """Epoch milliseconds of ``text``: digits (epoch ms) or ISO 8601 (naive is UTC)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{what} {text!r}: want a UTC date (2024-01-01), a date and time "
                         "(2024-01-01T12:30) or epoch milliseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def resume_point(path: Path) -> int | None:
    """The open time of the file's last complete row, after cutting off a torn last line;
    None when the file does not exist or holds no row yet."""
    if not path.exists():
        return None
    if path.is_dir():
        raise InputError(f"{path}: is a directory")
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return None
        f.seek(0)
        first = f.readline().decode(errors="replace").strip()
        if first != HEADER:
            raise InputError(f"{path}: not a ratchet history file (its header is not {HEADER})")
        f.seek(max(0, size - _TAIL))
        tail = f.read()
        if not tail.endswith(b"\n"):  # a row cut in the middle of a write
            keep = size - len(tail) + tail.rfind(b"\n") + 1
            f.truncate(keep)
            tail = tail[: tail.rfind(b"\n") + 1]
    rows = [line for line in tail.decode(errors="replace").splitlines() if line.strip()]
    last = rows[-1] if rows else HEADER
    if last == HEADER:
        return None
    cells = last.split(",")
    if len(cells) != 6 or not cells[0].isdigit():
        raise InputError(f"{path}: its last row is not a kline row: {last[:80]!r}")
    return int(cells[0])


def base_url(args: argparse.Namespace) -> str:
    if args.base_url:
        return args.base_url.rstrip("/")
    config = Path(args.config)
    if config.exists() or args.config != "ratchet.toml":
        cfg = load_config(config, need_keys=False)
        if cfg.exchange.base_url:
            return cfg.exchange.base_url.rstrip("/")
        if cfg.exchange.testnet:
            return TESTNET_URL
    return BINANCE_URL


def make_client(url: str) -> Client:
    client = Client(None, None, ping=False, requests_params={"timeout": 20})
    client.API_URL = url + "/api"
    return client


def weight_limit(client: Client, symbol: str) -> int:
    """The REQUEST_WEIGHT per minute from ``exchangeInfo?symbol=``; an unknown symbol is bad
    input. One request of weight 20, before anything is written."""
    url = client.API_URL + "/v3/exchangeInfo"
    for _ in range(5):
        try:
            response = client.session.get(url, params={"symbol": symbol}, timeout=20)
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise DownloadFailed(f"history: cannot reach {url}: {exc}") from None
        wait = _retry_after(response.headers)
        if response.status_code not in (429, 418) or wait > LONGEST_WAIT_S:
            break
        sys.stderr.write(f"history: HTTP {response.status_code}; waiting {wait:.0f} s\n")
        time.sleep(wait)
    if response.status_code != 200 or not isinstance(body, dict):
        body = body if isinstance(body, dict) else {}
        error = InputError if body.get("code") == -1121 else DownloadFailed
        raise error(f"history: {symbol}: {body.get('msg') or response.text[:100]}")
    for rate in body.get("rateLimits", []):
        if rate.get("rateLimitType") == "REQUEST_WEIGHT" and rate.get("interval") == "MINUTE":
            return int(rate["limit"]) // max(1, int(rate.get("intervalNum", 1)))
    return DEFAULT_WEIGHT_LIMIT


class WeightGuard:
    """A ``requests`` response hook: once the next klines request could pass 90% of the
    minute's weight, wait for the next minute before it goes out."""

    def __init__(self, limit: int, *, sleep=time.sleep, clock=time.time) -> None:
        self.limit = limit
        self.waits = 0
        self._sleep, self._clock = sleep, clock

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        used = response.headers.get("X-MBX-USED-WEIGHT-1M")
        if used is None or not used.isdigit():
            return
        if int(used) + KLINES_WEIGHT > self.limit * WEIGHT_HEADROOM:
            self.waits += 1
            self._sleep(60 - self._clock() % 60 + 0.5)


def download(client: Client, symbol: str, interval: str, interval_ms: int, start: int,
             last_open: int, out: Path, total: int,
             resumed_after: int | None) -> tuple[int, int | None]:
    """Append every kline from ``start`` to ``last_open`` to ``out``; (written, last open)."""
    written, last = 0, resumed_after
    progress = _progress(total, f"{symbol} {interval}")
    with progress, open(out, "a", encoding="utf-8", newline="") as f:
        if f.tell() == 0:
            f.write(HEADER + "\n")
        task = progress.add_task("download", total=total or None)
        next_start = start
        buffer: list[str] = []
        while next_start <= last_open:
            try:
                rows = client.get_historical_klines_generator(
                    symbol, interval, start_str=next_start, end_str=last_open, limit=PAGE)
                for kline in rows:
                    open_ms = int(kline[0])
                    if last is not None and open_ms <= last:
                        continue  # never a bar twice
                    buffer.append(",".join((str(open_ms), *map(str, kline[1:6]))) + "\n")
                    last = open_ms
                    if len(buffer) >= PAGE:
                        written += _flush(f, buffer, progress, task)
                written += _flush(f, buffer, progress, task)
                break
            except BinanceAPIException as exc:
                written += _flush(f, buffer, progress, task)
                _wait_or_fail(exc, symbol)
            except (BinanceRequestException, requests.RequestException) as exc:
                written += _flush(f, buffer, progress, task)
                raise DownloadFailed(f"history: download interrupted after {written} klines: "
                                     f"{exc}; run the same command again to resume") from None
            next_start = (last + interval_ms) if last is not None else start
    return written, last


def _flush(f, buffer: list[str], progress, task) -> int:
    n = len(buffer)
    if n:
        f.write("".join(buffer))
        f.flush()
        buffer.clear()
        progress.advance(task, n)
    return n


def _wait_or_fail(exc: BinanceAPIException, symbol: str) -> None:
    """429 or a short 418: wait out Retry-After; anything else ends the run."""
    wait = _retry_after(getattr(exc.response, "headers", None) or {})
    if exc.status_code in (429, 418) and wait <= LONGEST_WAIT_S:
        sys.stderr.write(f"history: HTTP {exc.status_code} ({exc.message}); waiting {wait:.0f} s\n")
        time.sleep(wait)
        return
    if exc.code in (-1121, -1120):
        raise InputError(f"history: {symbol}: {exc.message}") from None
    raise DownloadFailed(f"history: HTTP {exc.status_code} {exc.code}: {exc.message}; run the "
                         "same command again to resume") from None


def _retry_after(headers: Any) -> float:
    retry = headers.get("Retry-After")
    return float(retry) if retry and retry.replace(".", "", 1).isdigit() else 60.0


def _progress(total: int, label: str):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("klines"),
                    TimeRemainingColumn(), console=console, disable=not console.is_terminal,
                    transient=False)
