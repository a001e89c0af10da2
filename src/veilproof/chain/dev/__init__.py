"""Dev-chain plumbing: the embedded py-evm backend and its JSON-RPC server, anvil, and ``chain up``'s record.

Kept apart from :mod:`veilproof.chain` proper (one ``Network`` over any JSON-RPC node, facades, deploy,
keystores) because none of it runs against a real network: it exists so that ``veilproof demo`` and the
tests need no server.
"""
