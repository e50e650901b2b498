"""The adapter's clients: one per request in flight (a python-binance ``Client`` keeps its last
response, whose headers are read after the call), at most ``MAX_CLIENTS``, one clock offset."""

from __future__ import annotations

import threading

from exchange.binance.transport import ClientPool


class Client:
    def __init__(self) -> None:
        self.timestamp_offset = 0
        self.closed = False

    def close_connection(self) -> None:
        self.closed = True


def test_requests_in_flight_never_share_a_client_and_the_pool_is_bounded():
    made: list[Client] = []

    def make() -> Client:
        made.append(Client())
        return made[-1]

    pool = ClientPool(make(), make)
    inside = threading.Barrier(ClientPool.MAX_CLIENTS + 1)
    release = threading.Event()
    held: list[Client] = []
    lock = threading.Lock()

    def request() -> None:
        with pool.client() as client:
            with lock:
                held.append(client)
            if not release.is_set():  # the first MAX_CLIENTS; the two after them came late
                inside.wait(timeout=10)
                release.wait(timeout=10)

    threads = [threading.Thread(target=request) for _ in range(ClientPool.MAX_CLIENTS + 2)]
    for t in threads:
        t.start()
    inside.wait(timeout=10)  # MAX_CLIENTS requests are in flight; two more wait for a client
    in_flight = list(held)
    release.set()
    for t in threads:
        t.join(timeout=10)

    assert len(in_flight) == ClientPool.MAX_CLIENTS
    assert len({id(c) for c in in_flight}) == ClientPool.MAX_CLIENTS
    assert len(made) == ClientPool.MAX_CLIENTS and len(held) == ClientPool.MAX_CLIENTS + 2


def test_a_clock_resync_reaches_every_client_and_close_closes_them_all():
    first = Client()
    pool = ClientPool(first, Client)
    with pool.client() as a, pool.client() as b:
        pool.set_offset(-37)
    with pool.client() as c:
        pass
    pool.close()

    assert a.timestamp_offset == b.timestamp_offset == c.timestamp_offset == -37
    assert a.closed and b.closed
