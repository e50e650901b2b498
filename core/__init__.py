"""Pure domain code: Decimal math, trailing rules, reconciliation, config, errors.

Nothing in this package imports pykka, peewee, requests or sockets.
"""

__version__ = "0.1.0"  # setup.cfg reads it (``attr:``); /metrics shows it in ratchet_build_info
