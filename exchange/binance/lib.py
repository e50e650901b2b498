"""python-binance, loaded part by part: the REST client at boot, the rest when a stream starts.

python-binance's package ``__init__`` imports everything it has: the asyncio client (aiohttp,
about 100 ms of a 220 ms import here), every websocket manager and the depth caches. Boot
reconciliation needs only the REST ``Client`` (requests), and the streams start after it.

Importing this module registers ``binance`` as a package whose ``__init__`` has not run yet
(``importlib.util.module_from_spec``: its ``__path__`` is set, so ``binance.client`` and the
other submodules import as usual). The first time anyone reads a name the package itself
defines (``from binance import AsyncClient``, ``binance.__version__``), the real ``__init__``
runs in place, once, under a lock (PEP 562 ``__getattr__``), and every name is there from then
on. So code that imports ``binance`` its own way still sees the whole package. If
``binance`` was already imported when this module loads, nothing changes.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from typing import Any

_lock = threading.RLock()


def _install() -> None:
    if "binance" in sys.modules:
        return
    spec = importlib.util.find_spec("binance")
    if spec is None or spec.loader is None:
        return  # not installed: the first real import will say so
    package = importlib.util.module_from_spec(spec)
    done = False

    def complete(name: str) -> Any:
        nonlocal done
        with _lock:  # a second thread waits here until the package is whole
            if not done:
                done = True  # a read from inside the __init__ itself falls through below
                spec.loader.exec_module(package)
                package.__dict__.pop("__getattr__", None)
        try:
            return package.__dict__[name]
        except KeyError:
            raise AttributeError(f"module 'binance' has no attribute {name!r}") from None

    package.__dict__["__getattr__"] = complete
    sys.modules["binance"] = package


def complete() -> None:
    """Run python-binance's package ``__init__`` now (where a thread that starts the streams
    should pay for it, not the first websocket callback)."""
    module = sys.modules.get("binance")
    if module is not None and "__getattr__" in module.__dict__:
        module.__getattr__("__version__")


with _lock:
    _install()
