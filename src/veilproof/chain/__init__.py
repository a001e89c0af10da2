"""Chain layer: connect to an EVM (embedded py-evm or JSON-RPC), compile and deploy our contracts.

Knows contracts and accounts, nothing of ZK, FHE or HTTP (see DESIGN.md "Layering"). Everything
above it talks to contracts through the typed facades (:mod:`veilproof.chain.facade`, one module per
contract, handed out by :class:`veilproof.chain.suite.Suite`); web3's contract API stays in here.
"""

from veilproof.chain.compiler import CompiledContract, compile_contract, contracts_dir
from veilproof.chain.network import Network, Receipt, connect

__all__ = ["CompiledContract", "Network", "Receipt", "compile_contract", "connect", "contracts_dir"]
