"""Price CSVs: header, price or bars, ISO or epoch-ms timestamps; one-line errors name the row."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import pytest

from core.errors import EXIT_BAD_INPUT, InputError
from core.prices import PricePoint, read_prices
from tests.conftest import BTC_CSV


def write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(InputError) as info:
        read_prices(path)
    assert info.value.exit_code == EXIT_BAD_INPUT
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


def test_price_rows_give_one_point_each(tmp_path: Path):
    path = write(tmp_path, "timestamp,price\n2022-01-01T00:00:00Z,100.5\n"
                           "2022-01-01T00:00:01Z,101\n")

    points = read_prices(path)

    assert points == [
        PricePoint(Decimal(1640995200), "2022-01-01T00:00:00Z", Decimal("100.5")),
        PricePoint(Decimal(1640995201), "2022-01-01T00:00:01Z", Decimal("101")),
    ]


def test_rising_bar_expands_open_low_high_close(tmp_path: Path):
    path = write(tmp_path, "timestamp,open,high,low,close,volume\n"
                           "2022-01-01 00:00:00,10,13,9,12,555\n")

    prices = [p.price for p in read_prices(path)]

    assert prices == [Decimal(10), Decimal(9), Decimal(13), Decimal(12)]


def test_falling_bar_expands_open_high_low_close(tmp_path: Path):
    path = write(tmp_path, "timestamp,open,high,low,close\n2022-01-01 00:00:00,12,13,9,10\n")

    points = read_prices(path)

    assert [p.price for p in points] == [Decimal(12), Decimal(13), Decimal(9), Decimal(10)]
    assert {p.time for p in points} == {"2022-01-01 00:00:00"}
    assert {p.ts for p in points} == {Decimal(1640995200)}


def test_flat_bar_counts_as_rising(tmp_path: Path):
    path = write(tmp_path, "timestamp,open,high,low,close\n1640995200000,10,11,9,10\n")

    assert [p.price for p in read_prices(path)] == [Decimal(10), Decimal(9), Decimal(11),
                                                    Decimal(10)]


def test_columns_in_any_order_and_case(tmp_path: Path):
    path = write(tmp_path, "Close,Low,High,Open,Timestamp\n10,9,13,12,1640995200000\n")

    assert [p.price for p in read_prices(path)] == [Decimal(12), Decimal(13), Decimal(9),
                                                    Decimal(10)]


@pytest.mark.parametrize(
    ("stamp", "ts"),
    [
        pytest.param("1640995200000", Decimal(1640995200), id="epoch-ms"),
        pytest.param("1640995200123", Decimal("1640995200.123"), id="epoch-ms-fraction"),
        pytest.param("2022-01-01T00:00:00Z", Decimal(1640995200), id="iso-z"),
        pytest.param("2022-01-01T01:00:00+01:00", Decimal(1640995200), id="iso-offset"),
        pytest.param("2022-01-01 00:00:00", Decimal(1640995200), id="iso-naive-is-utc"),
        pytest.param("2022-01-01 00:00:00.250000", Decimal("1640995200.25"), id="iso-micro"),
    ],
)
def test_timestamps_become_exact_epoch_seconds_and_keep_their_text(tmp_path: Path, stamp: str,
                                                                   ts: Decimal):
    path = write(tmp_path, f"timestamp,price\n{stamp},1\n")

    (point,) = read_prices(path)

    assert point.ts == ts and isinstance(point.ts, Decimal)
    assert point.time == stamp


def test_equal_timestamps_are_fine_and_blank_lines_are_skipped(tmp_path: Path):
    path = write(tmp_path, "timestamp,price\n1000,1\n\n1000,2\n")

    assert [p.price for p in read_prices(path)] == [Decimal(1), Decimal(2)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", "empty file", id="empty"),
        pytest.param("\n\n", "empty file", id="only-blank-lines"),
        pytest.param("timestamp,price\n", "no data rows after the header", id="header-only"),
        pytest.param("2022-01-01T00:00:00Z,1\n", "row 1: no header", id="no-header"),
        pytest.param("time,price\n2022-01-01,1\n", "row 1: missing column timestamp",
                     id="missing-timestamp"),
        pytest.param("timestamp,volume\n2022-01-01,1\n",
                     "row 1: missing column price (or open,high,low,close)", id="missing-price"),
        pytest.param("timestamp,open,high,low\n2022-01-01,1,2,3\n",
                     "row 1: missing column close", id="missing-close"),
        pytest.param("timestamp,price\n1000,1\n1001,abc\n",
                     "row 3: bad number in column price: 'abc'", id="bad-number"),
        pytest.param("timestamp,open,high,low,close\n1000,1,2,1,1\n1001,1,2,x,1\n",
                     "row 3: bad number in column low: 'x'", id="bad-number-in-bar"),
        pytest.param("timestamp,price\n1000,\n", "row 2: bad number in column price: ''",
                     id="empty-number"),
        pytest.param("timestamp,price\n1000,NaN\n", "row 2: bad number in column price",
                     id="nan"),
        pytest.param("timestamp,price\n1000,1\n1001,0\n",
                     "row 3: price must be > 0 in column price (got 0)", id="zero-price"),
        pytest.param("timestamp,price\n1000,-5\n",
                     "row 2: price must be > 0 in column price (got -5)", id="negative-price"),
        pytest.param("timestamp,price\n1000,1\nyesterday,1\n", "row 3: bad timestamp 'yesterday'",
                     id="bad-timestamp"),
        pytest.param("timestamp,price\n2022-01-02T00:00:00Z,1\n2022-01-01T00:00:00Z,1\n",
                     "row 3: timestamp 2022-01-01T00:00:00Z is earlier than the previous row's "
                     "2022-01-02T00:00:00Z", id="out-of-order"),
        pytest.param("timestamp,price\n1000,1\n\n999,1\n", "row 4: timestamp 999 is earlier",
                     id="out-of-order-after-blank-line"),
        pytest.param("timestamp,open,high,low,close\n1000,1,2\n", "row 2: has 3 columns",
                     id="short-row"),
    ],
)
def test_malformed_file_is_one_line_naming_file_and_row(tmp_path: Path, text: str,
                                                        expected: str):
    path = write(tmp_path, text)

    assert expected in error_of(path)


def test_missing_file_is_an_input_error(tmp_path: Path):
    assert error_of(tmp_path / "nope.csv").endswith("not found")


def test_whole_btc_file_parses_into_four_prices_a_bar():
    points = read_prices(BTC_CSV)

    assert len(points) == 45031 * 4
    assert points[0] == PricePoint(Decimal(1640991660), "2021-12-31 23:01:00.000000",
                                   Decimal("46319.0"))
    assert points[-1].time == "2022-02-01 05:31:00.000000"
    assert all(a.ts <= b.ts for a, b in zip(points, points[1:], strict=False))


def test_a_gzip_file_reads_like_the_plain_csv(tmp_path: Path):
    text = "timestamp,price\n2024-01-01T00:00:00Z,100\n2024-01-01T00:01:00Z,101.5\n"
    plain = write(tmp_path, text)
    packed = tmp_path / "prices.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))

    assert read_prices(packed) == read_prices(plain)


def test_a_broken_gzip_file_is_an_input_error(tmp_path: Path):
    packed = tmp_path / "prices.csv.gz"
    packed.write_bytes(b"timestamp,price\n1,2\n")  # named .gz, but plain text

    assert "not a gzip file, or cut short" in error_of(packed)
