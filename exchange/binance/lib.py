"""python-binance, loaded part by part: the REST client at boot, the rest when a stream starts.

python-binance's package ``__init__`` imports everything it has: the asyncio client (aiohttp,
about 100 ms of a 220 ms import here), every websocket manager and the depth caches; its
``helpers`` import ``dateparser`` (30 ms) for one function Ratchet never calls. Its
``base_client`` imports pycryptodome's RSA, ECC, SHA256 and signature schemes for keys that
sign with RSA or Ed25519 (Ratchet signs with HMAC): with ``cffi`` installed, pycryptodome
parses its C declarations with ``pycparser`` at import, 30 ms here. Boot reconciliation needs
only the REST ``Client`` (requests), and the streams start after it.

Importing this module registers each of ``DEFERRED`` as a module whose code has not run yet
(``importlib.util.module_from_spec``: a package's ``__path__`` is set, so its submodules
import as usual). The first time anyone reads a name the module itself defines (``from
binance import AsyncClient``, ``dateparser.parse``, ``RSA.import_key``), its real code runs in
place, once, under a lock (PEP 562 ``__getattr__``); a thread that reads meanwhile waits for
it, and every name is there from then on. So code that imports any of them its own way still
sees the whole of it. A module already imported when this module loads is left alone.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from typing import Any

DEFERRED = ("binance", "dateparser", "Crypto.PublicKey.RSA", "Crypto.PublicKey.ECC",
            "Crypto.Hash.SHA256", "Crypto.Signature.pkcs1_15", "Crypto.Signature.eddsa")

_lock = threading.RLock()


def _defer(name: str) -> None:
    if name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(name)  # a submodule's parents are imported here
    except ImportError:
        return  # its parent is not installed: the first real import will say so
    if spec is None or spec.loader is None:
        return  # not installed: the first real import will say so
    module = importlib.util.module_from_spec(spec)
    done = False

    def complete(attr: str) -> Any:
        nonlocal done
        with _lock:  # a second thread waits here until the module is whole
            if not done:
                done = True  # a read from inside the module's own code falls through below
                spec.loader.exec_module(module)
                if module.__dict__.get("__getattr__") is complete:  # not one it defines
                    del module.__dict__["__getattr__"]
        try:
            return module.__dict__[attr]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

    module.__dict__["__getattr__"] = complete
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


def complete(name: str = "binance") -> None:
    """Run the deferred ``__init__`` of ``name`` now, if it has not run."""
    module = sys.modules.get(name)
    if module is not None and "__getattr__" in module.__dict__:
        module.__getattr__("__name__")


with _lock:
    for _name in DEFERRED:
        _defer(_name)
