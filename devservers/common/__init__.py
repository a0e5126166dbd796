"""Plumbing the reference servers share: starting one in a subprocess (launch), serving an aiohttp
app on a background thread (runner), the command line (cli) and wire-level test helpers (testing).

Only plumbing lives here. What a server answers is its own, and nothing here imports the
backends' client code: a reference server that shared the client's logic would prove nothing.
"""
