"""Bounded labels and the float boundary of the metrics (``telemetry.metrics``).

Every label value but ``symbol`` goes through a ``LabelGuard``: at most ``MAX_LABEL_VALUES``
distinct values per label; a value longer than ``MAX_LABEL_LENGTH`` or beyond the limit folds
into ``other``, and a value equal to a secret env var becomes ``redacted``.
"""

from __future__ import annotations

import math
import threading
from decimal import Decimal

from prometheus_client import Counter, Gauge, Histogram

from telemetry.logs import secret_values

MAX_LABEL_VALUES = 64
MAX_LABEL_LENGTH = 64
OTHER = "other"
REDACTED = "redacted"


def display(value: Decimal | None) -> float:
    """A Decimal as a float for Prometheus; None (no such value now) as NaN."""
    return math.nan if value is None else float(value)  # display


def display_or_zero(value: Decimal | None) -> float:
    return 0.0 if value is None else float(value)  # display


class LabelGuard:
    """Bounds one label's distinct values (see the module docstring)."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: object) -> str:
        text = str(value)
        if text in self._seen:
            return text
        with self._lock:
            if text in secret_values():
                return REDACTED
            if len(text) > MAX_LABEL_LENGTH or len(self._seen) >= self._limit:
                return OTHER
            self._seen.add(text)
            return text


class ChildCache:
    """Labelled children of one metric, made once per label tuple, guarded per label."""

    def __init__(self, metric: Counter | Gauge | Histogram, guards: tuple[LabelGuard, ...]):
        self._metric = metric
        self._guards = guards
        self._children: dict[tuple[object, ...], object] = {}
        self._lock = threading.Lock()

    def get(self, *values: object):
        child = self._children.get(values)
        if child is None:
            with self._lock:
                child = self._children.get(values)
                if child is None:
                    safe = [guard(v) for guard, v in zip(self._guards, values, strict=True)]
                    child = self._metric.labels(*safe)
                    self._children[values] = child
        return child
