# pragma version ~=0.4.3
"""
@title Yes/no signature checks (secp256k1 EOAs and ERC-1271 contract wallets)
@notice One copy of the signature check shared by AgentRegistry, AgentWallet, JobMarket
        and StealthMetaRegistry (each had its own before).
@dev ERC-1271 wallets are asked with snekmate's `signature_checker`. EOA recovery is ours:
     snekmate's `ecdsa._recover_sig` reverts on a bad signature (with its own reason strings),
     accepts 64-byte EIP-2098 signatures and rejects v = 0/1, while our callers need a plain
     answer: an ERC-1271 `isValidSignature` must return 0xffffffff rather than revert, and each
     contract reverts with its own reason ("bad signature", "bad wallet signature").
     Accepted here: exactly 65 bytes (r, s, v), v in {0, 1, 27, 28}, low s (EIP-2).
"""

from snekmate.utils import signature_checker

# secp256k1 order / 2: larger `s` values are malleable twins (EIP-2)
HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168


@internal
@pure
def _recover(digest: bytes32, signature: Bytes[65]) -> address:
    """
    @dev Signer of a 65-byte (r, s, v) signature of `digest`; the zero address when the
         signature is malformed (length, v, high s) or does not recover. Never reverts.
    """
    if len(signature) != 65:
        return empty(address)
    r: uint256 = extract32(signature, 0, output_type=uint256)
    s: uint256 = extract32(signature, 32, output_type=uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    if v < 27:
        v += 27
    if (v != 27 and v != 28) or s > HALF_N:
        return empty(address)
    return ecrecover(digest, v, r, s)


@internal
@view
def _is_valid_signature_now(signer: address, digest: bytes32, signature: Bytes[65]) -> bool:
    """
    @dev Whether `signer` signed `digest`: ERC-1271 `isValidSignature` if `signer` has code,
         else secp256k1 recovery as in `_recover`. Never reverts.
    """
    if signer.is_contract:
        return signature_checker._is_valid_ERC1271_signature_now(signer, digest, signature)
    recovered: address = self._recover(digest, signature)
    return recovered != empty(address) and recovered == signer
