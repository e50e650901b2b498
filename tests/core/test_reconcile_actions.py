"""Reconciliation's vocabulary: which orders are queried, the action kinds and their counts."""

from __future__ import annotations

import dataclasses

import pytest

from core import reconcile as rc
from core.reconcile import (
    AdoptIntent,
    AdoptOrphan,
    CancelOrphan,
    CloseUnbooked,
    FailIntent,
    HaltPair,
    KeepStop,
    LocalState,
    MarkOrder,
    RecordStopFill,
    ReplaceStop,
    ShrinkPosition,
    UnknownStop,
    orders_to_query,
    summarize,
)
from core.types import OrderState
from tests.core.test_reconcile import PID, case_replace_in_flight, rep, stop_row


def test_orders_to_query_skips_open_and_final_orders():
    open_stop, gone_stop = stop_row(2), stop_row(3)
    final = stop_row(4, OrderState.CANCELED)
    local = LocalState(positions=(), orders=(open_stop, gone_stop, final), settings={},
                       filters={}, last_prices={}, prefix="rt")

    assert orders_to_query(local, [rep(open_stop, OrderState.NEW)]) == [gone_stop]


def test_summarize_counts_every_kind_with_zeros():
    actions = case_replace_in_flight(OrderState.CANCELED, OrderState.NEW).expected

    summary = summarize(actions)

    assert summary == {"keep_stop": 0, "adopt_intent": 1, "fail_intent": 0,
                       "record_stop_fill": 0, "replace_stop": 0, "mark_order": 1,
                       "cancel_orphan": 0, "unknown_stop": 0, "adopt_orphan": 0,
                       "shrink_position": 0, "close_unbooked": 0, "halt_pair": 0}


def test_action_kinds_are_stable_and_distinct():
    kinds = [KeepStop.kind, AdoptIntent.kind, FailIntent.kind, RecordStopFill.kind,
             ReplaceStop.kind, MarkOrder.kind, CancelOrphan.kind, UnknownStop.kind,
             AdoptOrphan.kind, ShrinkPosition.kind, CloseUnbooked.kind, HaltPair.kind]

    assert len(set(kinds)) == len(kinds) == len(rc.ACTION_KINDS)
    assert KeepStop(PID, "c").kind == "keep_stop"


def test_actions_are_frozen():
    action = KeepStop(PID, "c")

    with pytest.raises(dataclasses.FrozenInstanceError):
        action.position_id = "other"  # type: ignore[misc]
