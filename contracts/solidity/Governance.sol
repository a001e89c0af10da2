// SPDX-License-Identifier: MIT
// veilproof governance: OpenZeppelin Contracts 5.4.0 (tools/npm), composed, nothing reimplemented.
// Why a wrapper: VEIL (contracts/Token.vy) keeps no vote checkpoints, so voting power is wVEIL,
// VEIL deposited 1:1 into an ERC20Wrapper + ERC20Votes. Votes are read at a proposal's snapshot,
// so tokens bought or borrowed after it count zero (a flash loan cannot vote).
// Clock: timestamps (ERC-6372 "mode=timestamp"), so delays and periods are seconds on every chain.
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Wrapper} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Wrapper.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {Governor} from "@openzeppelin/contracts/governance/Governor.sol";
import {GovernorSettings} from "@openzeppelin/contracts/governance/extensions/GovernorSettings.sol";
import {GovernorCountingSimple} from "@openzeppelin/contracts/governance/extensions/GovernorCountingSimple.sol";
import {GovernorVotes} from "@openzeppelin/contracts/governance/extensions/GovernorVotes.sol";
import {GovernorVotesQuorumFraction} from "@openzeppelin/contracts/governance/extensions/GovernorVotesQuorumFraction.sol";
import {GovernorTimelockControl} from "@openzeppelin/contracts/governance/extensions/GovernorTimelockControl.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title wVEIL: VEIL wrapped 1:1 with checkpointed, delegable votes.
contract VeilVotes is ERC20, ERC20Wrapper, ERC20Votes {
    constructor(IERC20 veil) ERC20("Wrapped Veil Votes", "wVEIL") ERC20Wrapper(veil) EIP712("wVEIL", "1") {}

    /// @notice The vote clock: block timestamps (ERC-6372).
    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    /// @notice ERC-6372 description of the clock.
    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    function decimals() public view override(ERC20, ERC20Wrapper) returns (uint8) {
        return super.decimals();
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }
}

/// @dev The one view of NodeRegistry the timelock needs: its (immutable) unbonding delay.
interface IUnbondDelay {
    function unbond_delay() external view returns (uint256);
}

/// @title The timelock every admin power of veilproof's contracts answers to.
/// @notice Calls that hand an *address* power over stake or minting (a new verifier, arbiter,
/// slasher, locker, minter, treasury or owner) wait `addressDelay` instead of the ordinary delay:
/// NodeRegistry's unbonding delay plus a margin, read from the registry at deploy. So a node that
/// starts unbonding when such a call is queued is out with its whole stake before the call can run;
/// a captured vote can still act, but not on stake that chose to leave. Numeric parameters keep the
/// short delay: the contracts bound them.
contract VeilTimelock is TimelockController {
    /// @notice Seconds an address-valued admin call waits: the registry's unbond delay + margin.
    uint256 public immutable addressDelay;

    error VeilTimelockZeroMargin();

    bytes4 private constant SET_ZK_VERIFIER = bytes4(keccak256("set_zk_verifier(address)"));
    bytes4 private constant SET_ARBITER = bytes4(keccak256("set_arbiter(address)"));
    bytes4 private constant AUTHORIZE = bytes4(keccak256("authorize(address,bool)"));
    bytes4 private constant SET_LOCKER = bytes4(keccak256("set_locker(address,bool)"));
    bytes4 private constant SET_MINTER = bytes4(keccak256("set_minter(address)"));
    bytes4 private constant SET_TREASURY = bytes4(keccak256("set_treasury(address)"));
    bytes4 private constant SET_SUBNET_OWNER = bytes4(keccak256("set_subnet_owner(address)"));
    bytes4 private constant TRANSFER_OWNERSHIP = bytes4(keccak256("transfer_ownership(address)"));

    constructor(
        uint256 minDelay,
        IUnbondDelay registry,
        uint256 margin,
        address[] memory proposers,
        address[] memory executors,
        address admin
    ) TimelockController(minDelay, proposers, executors, admin) {
        if (margin == 0) revert VeilTimelockZeroMargin();
        uint256 d = registry.unbond_delay() + margin;
        addressDelay = d > minDelay ? d : minDelay;
    }

    /// @notice True when `data` calls an address-valued admin function (granting, not revoking).
    /// Why selectors alone: every contract the timelock owns is ours and has no generic call-forwarding
    /// entry, so the timelock's own payloads are the only way these powers move.
    function isAddressPower(bytes calldata data) public pure returns (bool) {
        if (data.length < 4) return false;
        bytes4 s = bytes4(data[:4]);
        if (s == AUTHORIZE || s == SET_LOCKER) {
            // revoking a slasher/locker (allowed = false) stays fast: it only takes power away
            return data.length < 68 || uint256(bytes32(data[36:68])) != 0;
        }
        return s == SET_ZK_VERIFIER || s == SET_ARBITER || s == SET_MINTER || s == SET_TREASURY
            || s == SET_SUBNET_OWNER || s == TRANSFER_OWNERSHIP;
    }

    /// @notice Schedule one call; an address-valued admin call waits at least `addressDelay`.
    function schedule(
        address target,
        uint256 value,
        bytes calldata data,
        bytes32 predecessor,
        bytes32 salt,
        uint256 delay
    ) public override {
        if (isAddressPower(data) && delay < addressDelay) delay = addressDelay;
        super.schedule(target, value, data, predecessor, salt, delay);
    }

    /// @notice Schedule a batch; if any call is address-valued, the batch waits at least `addressDelay`.
    function scheduleBatch(
        address[] calldata targets,
        uint256[] calldata values,
        bytes[] calldata payloads,
        bytes32 predecessor,
        bytes32 salt,
        uint256 delay
    ) public override {
        if (delay < addressDelay) {
            for (uint256 i = 0; i < payloads.length; ++i) {
                if (isAddressPower(payloads[i])) {
                    delay = addressDelay;
                    break;
                }
            }
        }
        super.scheduleBatch(targets, values, payloads, predecessor, salt, delay);
    }
}

/// @title veilproof's Governor: wVEIL votes, simple counting, quorum as a fraction of supply, timelocked.
contract VeilGovernor is
    Governor,
    GovernorSettings,
    GovernorCountingSimple,
    GovernorVotes,
    GovernorVotesQuorumFraction,
    GovernorTimelockControl
{
    constructor(
        IVotes votes,
        TimelockController timelock,
        uint48 votingDelay_,
        uint32 votingPeriod_,
        uint256 proposalThreshold_,
        uint256 quorumPercent
    )
        Governor("VeilGovernor")
        GovernorSettings(votingDelay_, votingPeriod_, proposalThreshold_)
        GovernorVotes(votes)
        GovernorVotesQuorumFraction(quorumPercent)
        GovernorTimelockControl(timelock)
    {}

    function votingDelay() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.votingDelay();
    }

    function votingPeriod() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.votingPeriod();
    }

    function proposalThreshold() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.proposalThreshold();
    }

    function state(uint256 proposalId) public view override(Governor, GovernorTimelockControl) returns (ProposalState) {
        return super.state(proposalId);
    }

    function proposalNeedsQueuing(uint256 proposalId)
        public
        view
        override(Governor, GovernorTimelockControl)
        returns (bool)
    {
        return super.proposalNeedsQueuing(proposalId);
    }

    function _queueOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint48) {
        super._queueOperations(proposalId, targets, values, calldatas, descriptionHash);
        // OZ reports now + minDelay; the timelock may hold the batch longer (address powers), so
        // report its real readiness: proposalEta is when `execute` will first succeed.
        TimelockController tl = TimelockController(payable(timelock()));
        bytes32 id = tl.hashOperationBatch(targets, values, calldatas, 0, bytes20(address(this)) ^ descriptionHash);
        return SafeCast.toUint48(tl.getTimestamp(id));
    }

    function _executeOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) {
        super._executeOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _cancel(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint256) {
        return super._cancel(targets, values, calldatas, descriptionHash);
    }

    function _executor() internal view override(Governor, GovernorTimelockControl) returns (address) {
        return super._executor();
    }
}
