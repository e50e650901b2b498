"""The restart budget of a supervised actor (DESIGN.md §2): up to 5 restarts in 10 minutes,
with backoff; the 6th failure in that window is one too many. And what the Supervisor keeps
per pair."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pykka

from actors.conflation import TickSlot
from actors.messages import GetSnapshot
from core.types import PairSettings, SymbolFilters

MAX_RESTARTS = 5
RESTART_WINDOW_S = 600.0


@dataclass(slots=True)
class Budget:
    """Failures within the restart window; ``over()`` once the 6th lands in it."""

    times: deque = field(default_factory=deque)

    def fail(self, now: float) -> int:
        self.times.append(now)
        while self.times and now - self.times[0] > RESTART_WINDOW_S:
            self.times.popleft()
        return len(self.times)

    def over(self) -> bool:
        return len(self.times) > MAX_RESTARTS

    def delay_s(self) -> float:
        return min(0.1 * 2 ** (len(self.times) - 1), 5.0)


@dataclass(slots=True, kw_only=True)
class PairHandle:
    settings: PairSettings
    filters: SymbolFilters
    slot: TickSlot
    ref: pykka.ActorRef | None = None
    failures: Budget = field(default_factory=Budget)
    halted: bool = False
    draining: bool = False  # left the config: protects its position until it closes

    def snapshot(self) -> dict | None:
        """The pair's state; None while it is halted or being restarted."""
        if self.ref is None:
            return None
        try:
            return self.ref.ask(GetSnapshot(), timeout=5)
        except pykka.ActorDeadError:
            return None
