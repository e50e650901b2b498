"""Pure domain code: Decimal math, trailing rules, reconciliation, config, errors.

Nothing in this package imports pykka, peewee, requests or sockets.
"""
