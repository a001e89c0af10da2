"""Deploy the agents contracts next to a core suite and record them in ``Deployment.extra``.

AgentWallets are not deployed here: each owner deploys one per agent
(:meth:`veilproof.agents.wallet.AgentWalletClient.deploy`), so the owner is the wallet's admin.
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from veilproof.chain.deploy import Deployment
from veilproof.chain.network import Network

KEYS = ("agent_registry", "reputation", "stealth_registry", "stealth_announcer")


def deploy_agents(net: Network, owner: LocalAccount, deployment: Deployment) -> dict[str, str]:
    """Deploy AgentRegistry, Reputation (bound to the suite's JobMarket), the ERC-6538 registry and
    the ERC-5564 announcer; returns their addresses, also merged into ``deployment.extra``."""
    addrs = {
        "agent_registry": str(net.deploy("AgentRegistry", sender=owner).address),
        "reputation": str(net.deploy("Reputation", deployment.market, sender=owner).address),
        "stealth_registry": str(net.deploy("StealthMetaRegistry", sender=owner).address),
        "stealth_announcer": str(net.deploy("StealthAnnouncer", sender=owner).address),
    }
    deployment.extra.update(addrs)
    return addrs
