"""Exchange access: the ``Exchange`` interface, the paper exchange, Binance and its sim."""
