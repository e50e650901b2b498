"""Child of the crash test: writes through a DBWriter until it is killed, reporting acks.

Usage: ``python -m tests.persistence.crash_child DB START``

``THREADS`` writer threads share one DBWriter. Thread ``j`` writes units ``k = START + j +
THREADS*i`` in order. Unit ``k`` is one multi-row unit of work: position ``P<j>`` (seq ``k``,
stop id ``o<k>``), order ``o<k>``, fill ``t<k>`` and kv ``unit:<k>``. Two units in three are
written durably (even threads call ``durable``, odd ones ``ask``); after each returns, the child
writes ``k`` on stdout. Every third unit is told, so it may be committed without ever being
acknowledged.
"""

from __future__ import annotations

import os
import sys
import threading

from actors.db_writer import DBWriter, durable
from actors.messages import LoadState, Persist
from persistence.db import acquire_lock
from tests.persistence.helpers import fill, order, position

THREADS = 4


def unit(k: int, j: int) -> Persist:
    pid = f"P{j}"
    return Persist(
        positions=(position(pid, seq=k).replace(stop_order_id=f"o{k}"),),
        orders=(order(f"o{k}", pid=pid),),
        fills=(fill(f"t{k}", cid=f"o{k}", pid=pid),),
        kv=((f"unit:{k}", str(k)),),
    )


def write(writer, start: int, j: int) -> None:
    i = 0
    while True:
        k = start + j + THREADS * i
        if i % 3 == 2:
            writer.tell(unit(k, j))
        elif j % 2 == 0:
            durable(writer, unit(k, j), timeout=30)
        else:
            writer.ask(unit(k, j), timeout=30)
            os.write(1, f"{k}\n".encode())
        i += 1


def main() -> None:
    db_path, start = sys.argv[1], int(sys.argv[2])
    acquire_lock(db_path)  # held until the kill, like an engine's
    writer = DBWriter.start(db_path)
    writer.ask(LoadState(), timeout=30)  # the store is open (or this raises)
    threads = [threading.Thread(target=write, args=(writer, start, j), daemon=True)
               for j in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
