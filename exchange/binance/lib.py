"""python-binance, loaded part by part: the REST client at boot, the rest when a stream starts.

python-binance's package ``__init__`` imports everything it has: the asyncio client (aiohttp,
about 100 ms of a 220 ms import here), every websocket manager and the depth caches; its
``helpers`` import ``dateparser`` (30 ms) for one function Ratchet never calls. Boot
reconciliation needs only the REST ``Client`` (requests), and the streams start after it.

Importing this module registers ``binance`` and ``dateparser`` as packages whose ``__init__``
has not run yet (``importlib.util.module_from_spec``: the ``__path__`` is set, so
``binance.client`` and the other submodules import as usual). The first time anyone reads a
name the package itself defines (``from binance import AsyncClient``, ``dateparser.parse``),
the real ``__init__`` runs in place, once, under a lock (PEP 562 ``__getattr__``); a thread
that reads meanwhile waits for it, and every name is there from then on. So code that imports
either package its own way still sees the whole of it. A package already imported when this
module loads is left alone.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from typing import Any

DEFERRED = ("binance", "dateparser")

_lock = threading.RLock()


def _defer(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return  # not installed: the first real import will say so
    package = importlib.util.module_from_spec(spec)
    done = False

    def complete(attr: str) -> Any:
        nonlocal done
        with _lock:  # a second thread waits here until the package is whole
            if not done:
                done = True  # a read from inside the __init__ itself falls through below
                spec.loader.exec_module(package)
                package.__dict__.pop("__getattr__", None)
        try:
            return package.__dict__[attr]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

    package.__dict__["__getattr__"] = complete
    sys.modules[name] = package


def complete(name: str = "binance") -> None:
    """Run the deferred ``__init__`` of ``name`` now, if it has not run."""
    module = sys.modules.get(name)
    if module is not None and "__getattr__" in module.__dict__:
        module.__getattr__("__name__")


with _lock:
    for _name in DEFERRED:
        _defer(_name)
