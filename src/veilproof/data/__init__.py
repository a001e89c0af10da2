"""Consented data market, off chain: records and their hashes, the encrypted store a data host keeps,
the committed algorithms a host runs (compute-to-data), measured quality (Shapley over contributors), and the
buyer's side. The on-chain half is :mod:`veilproof.chain.data_registry`; the design is
docs/data-market.md."""
