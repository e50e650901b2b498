"""A refused entry never spins: a lack of funds backs off, anything else halts the pair."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.errors import INSUFFICIENT_BALANCE
from core.pair_logic import on_entry_refused

FILTER = "Filter failure: NOTIONAL"


@pytest.mark.parametrize(
    ("code", "reason", "refusals", "halt", "retry_at"),
    [
        pytest.param(-2010, INSUFFICIENT_BALANCE, 1, False, D(1001), id="funds-first-1s"),
        pytest.param(-2010, INSUFFICIENT_BALANCE, 2, False, D(1002), id="funds-second-2s"),
        pytest.param(-2010, INSUFFICIENT_BALANCE, 5, False, D(1016), id="funds-doubles"),
        pytest.param(-2010, INSUFFICIENT_BALANCE, 9, False, D(1256), id="funds-256s"),
        pytest.param(-2010, INSUFFICIENT_BALANCE, 10, False, D(1300), id="funds-capped-5min"),
        pytest.param(-2010, INSUFFICIENT_BALANCE, 40, False, D(1300), id="funds-stays-capped"),
        pytest.param(-2010, INSUFFICIENT_BALANCE.lower(), 1, False, D(1001),
                     id="funds-any-case"),
        pytest.param(-1013, FILTER, 1, True, None, id="filter-halts"),
        pytest.param(-2010, "Order would immediately match and take.", 1, True, None,
                     id="other-2010-halts"),
        pytest.param(None, INSUFFICIENT_BALANCE, 1, True, None, id="local-refusal-halts"),
        pytest.param(-1013, INSUFFICIENT_BALANCE, 1, True, None, id="text-alone-is-not-enough"),
    ],
)
def test_entry_refusal(code, reason, refusals, halt, retry_at):
    refusal = on_entry_refused(code=code, reason=reason, refusals=refusals, now=D(1000))

    assert refusal.halt is halt
    assert refusal.retry_at == retry_at
    assert refusal.reason == f"entry refused: {reason}"
