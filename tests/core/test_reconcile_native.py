"""Reconciliation of native trailing stops (DESIGN.md §3b, §5), table-driven: an open native
stop with the right delta, limit and qty is kept (it has no stop price to compare); one that
filled while Ratchet was down is recorded; one that is gone is replaced by a fresh native stop
whose limit comes from ``max(highest, last price)``; a stop of the other kind is replaced."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from core.reconcile import (
    CancelOrphan,
    KeepStop,
    RecordStopFill,
    ReplaceStop,
    reconcile,
)
from core.types import OrderState, StopMode
from tests.core.test_reconcile import PID, SETTINGS, SYM, UP, Case, cid, ex, pos, stop_row
from tests.core.test_reconcile import rep as plain_rep

NATIVE_SETTINGS = replace(SETTINGS, stop_mode=StopMode.NATIVE)  # trail 10 %: delta 1000


def native_row(seq: int = 2, state: OrderState = OrderState.NEW, limit: str = "98.01",
               delta: int = 1000):
    return replace(stop_row(seq, state, limit=limit), stop_price=None, trailing_delta=delta)


def rep(order, state, *executions):
    """The venue's report of ``order``, its trailing delta included."""
    return replace(plain_rep(order, state, *executions), trailing_delta=order.trailing_delta)


def native_pos(**changes):
    return pos(trailing_delta=1000, **changes)


def fresh_native(old, old_report=None) -> ReplaceStop:
    return ReplaceStop(PID, old, UP["stop"], UP["limit"], UP["highest"], old_report=old_report,
                       last_price=UP["last_price"], trailing_delta=1000)


def case(positions, orders, *, open_orders=(), queried=None, settings=NATIVE_SETTINGS,
         expected) -> Case:
    return Case(positions=positions, orders=orders, open_orders=open_orders,
                queried=queried or {}, settings={SYM: settings}, expected=expected)


OPEN = native_row()
WRONG_DELTA = native_row(delta=500)
WRONG_LIMIT = native_row(limit="97")
FILLED = rep(OPEN, OrderState.FILLED, ex("98.5", "1", "0.0985"))
CANCELED = rep(OPEN, OrderState.CANCELED)
REPLACE_KIND = stop_row()

CASES = [
    pytest.param(case((native_pos(),), (OPEN,), open_orders=(rep(OPEN, OrderState.NEW),),
                      expected=[KeepStop(PID, cid(2))]), id="open-native-stop-kept"),
    pytest.param(case((native_pos(),), (WRONG_DELTA,),
                      open_orders=(rep(WRONG_DELTA, OrderState.NEW),),
                      expected=[CancelOrphan(rep(WRONG_DELTA, OrderState.NEW)),
                                fresh_native(WRONG_DELTA, rep(WRONG_DELTA, OrderState.NEW))]),
                 id="open-native-stop-with-another-delta-replaced"),
    pytest.param(case((native_pos(),), (WRONG_LIMIT,),
                      open_orders=(rep(WRONG_LIMIT, OrderState.NEW),),
                      expected=[CancelOrphan(rep(WRONG_LIMIT, OrderState.NEW)),
                                fresh_native(WRONG_LIMIT, rep(WRONG_LIMIT, OrderState.NEW))]),
                 id="open-native-stop-with-another-limit-replaced"),
    pytest.param(case((native_pos(),), (OPEN,), queried={cid(2): FILLED},
                      expected=[RecordStopFill(PID, OPEN, FILLED, D("98.5"),
                                               D("-1.5") - D("0.1") - D("0.0985"))]),
                 id="native-stop-filled-while-down-recorded"),
    pytest.param(case((native_pos(),), (OPEN,), queried={cid(2): CANCELED},
                      expected=[fresh_native(OPEN, CANCELED)]),
                 id="native-stop-canceled-replaced-by-a-fresh-native-stop"),
    pytest.param(case((native_pos(),), (OPEN,), queried={cid(2): None},
                      expected=[fresh_native(OPEN, None)]),
                 id="native-stop-unknown-replaced-by-a-fresh-native-stop"),
    pytest.param(case((pos(),), (REPLACE_KIND,),
                      open_orders=(rep(REPLACE_KIND, OrderState.NEW),),
                      expected=[CancelOrphan(rep(REPLACE_KIND, OrderState.NEW)),
                                fresh_native(REPLACE_KIND, rep(REPLACE_KIND, OrderState.NEW))]),
                 id="native-pair-with-a-stop-it-moves-gets-a-native-one"),
    pytest.param(case((native_pos(),), (OPEN,), open_orders=(rep(OPEN, OrderState.NEW),),
                      settings=SETTINGS,
                      expected=[CancelOrphan(rep(OPEN, OrderState.NEW)),
                                replace(fresh_native(OPEN, rep(OPEN, OrderState.NEW)),
                                        trailing_delta=None)]),
                 id="replace-pair-with-a-native-stop-gets-one-it-moves"),
]


@pytest.mark.parametrize("c", CASES)
def test_reconcile_native(c: Case):
    assert reconcile(c.local(), c.venue()) == c.expected
