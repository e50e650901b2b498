"""``[feed] feed_stale_s``: the binance feed's silence limit, a Decimal of seconds > 0."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.config import parse_config
from core.errors import ConfigError

PAIRS = '[[pairs]]\nsymbol = "BTCUSDT"\n'


def feed(text: str):
    return parse_config(f"[feed]\n{text}\n{PAIRS}", source="r.toml", need_keys=False).feed


def test_the_binance_feed_counts_ten_silent_seconds_as_stale_by_default():
    assert feed('kind = "binance"').feed_stale_s == Decimal(10)


def test_feed_stale_s_is_read_exactly():
    assert feed('kind = "binance"\nfeed_stale_s = 2.5').feed_stale_s == Decimal("2.5")


@pytest.mark.parametrize(("text", "message"), [
    ('kind = "binance"\nfeed_stale_s = 0', "r.toml: feed.feed_stale_s must be > 0 (got 0)"),
    ('kind = "simulated"\nfeed_stale_s = 5',
     "r.toml: feed.feed_stale_s is not an option of the simulated feed"),
])
def test_a_bad_feed_stale_s_is_refused_naming_the_key(text, message):
    with pytest.raises(ConfigError) as refused:
        feed(text)

    assert str(refused.value) == message
