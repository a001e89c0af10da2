"""The explorer: an indexer that follows the chain's events into SQLite, and a web app that serves
server-rendered pages from that index (docs/explorer.md).

Why an index: a page that scanned the chain per request would cost one RPC per job, node and epoch on
every load; the indexer reads each block once, resumes after a restart, and starts a new index when
the network it follows was re-deployed.
"""

from veilproof.explorer.indexer import Indexer

__all__ = ["Indexer"]
