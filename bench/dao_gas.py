"""Gas of the DAO deploy, the hand-over and wVEIL calls on the embedded chain (docs/dao.md).

Run: PYTHONPATH=src python bench/dao_gas.py. Per-step governance gas is printed by pytest tests/dao -s.
"""

from veilproof.chain import connect
from veilproof.chain.deploy import ONE_VEIL, SuiteParams
from veilproof.chain.governor import DaoParams, deploy_dao, hand_over
from veilproof.chain.suite import Suite
from veilproof.incentives.deploy import deploy_network


def main() -> None:
    net = connect("embedded")
    owner, v = net.new_accounts(2)
    d = deploy_network(net, owner, SuiteParams.dev())
    s = Suite.attach(net, d)
    s.token.mint(v.address, 100 * ONE_VEIL, sender=owner)
    b0 = net.w3.eth.block_number
    dao = deploy_dao(net, owner, d, DaoParams.dev())
    b1 = net.w3.eth.block_number

    def gas_range(a: int, b: int) -> int:
        return sum(net.w3.eth.get_block(i, full_transactions=False)["gasUsed"] for i in range(a + 1, b + 1))

    print("deploy_dao total gas", gas_range(b0, b1))
    b2 = net.w3.eth.block_number
    hand_over(net, owner, d)
    print("hand_over total gas", gas_range(b2, net.w3.eth.block_number))
    s.token.approve(dao.votes.address, 100 * ONE_VEIL, sender=v)
    print("wVEIL depositFor", dao.votes.deposit(60 * ONE_VEIL, sender=v).gas_used)
    print("delegate (first)", dao.votes.delegate(v.address, sender=v).gas_used)
    print("depositFor after delegating", dao.votes.deposit(40 * ONE_VEIL, sender=v).gas_used)
    print("withdrawTo", dao.votes.withdraw(10 * ONE_VEIL, sender=v).gas_used)


if __name__ == "__main__":
    main()
