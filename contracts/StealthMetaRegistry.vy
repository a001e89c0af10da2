# pragma version ~=0.4.3
"""
@title Stealth meta-address registry (ERC-6538)
@notice Recipients publish a stealth meta-address (spending and viewing public keys)
        so payers can derive one-time stealth addresses for them without asking.
@dev Names, EIP-712 domain ("ERC6538Registry", "1.0") and type hash follow ERC-6538,
     so wallets that speak the ERC can register on behalf of a user with a signature.
     Scheme 1 entries are checked to be two compressed secp256k1 keys (66 bytes).
"""

from snekmate.utils import eip712_domain_separator
from lib import signatures

# snekmate's EIP-712 domain: cached at deployment, rebuilt if the chain id changes (fork).
# Its EIP-5267 `eip712Domain()` view is not exported (the ABI stays as it was).
initializes: eip712_domain_separator

MAX_META: constant(uint256) = 256
SCHEME_SECP256K1: constant(uint256) = 1
ERC6538REGISTRY_ENTRY_TYPE_HASH: public(constant(bytes32)) = keccak256(
    "Erc6538RegistryEntry(uint256 schemeId,bytes stealthMetaAddress,uint256 nonce)"
)

event StealthMetaAddressSet:
    registrant: indexed(address)
    schemeId: indexed(uint256)
    stealthMetaAddress: Bytes[MAX_META]

event NonceIncremented:
    registrant: indexed(address)
    newNonce: uint256

stealthMetaAddressOf: public(HashMap[address, HashMap[uint256, Bytes[MAX_META]]])
nonceOf: public(HashMap[address, uint256])


@deploy
def __init__():
    """
    @notice Fix the EIP-712 domain: ("ERC6538Registry", "1.0", chain id, this registry).
    """
    eip712_domain_separator.__init__("ERC6538Registry", "1.0")


@internal
@pure
def _check_meta(schemeId: uint256, meta: Bytes[MAX_META]):
    if schemeId == SCHEME_SECP256K1:
        assert len(meta) == 66, "bad meta-address"
        p0: uint256 = convert(slice(meta, 0, 1), uint256)
        p1: uint256 = convert(slice(meta, 33, 1), uint256)
        assert (p0 == 2 or p0 == 3) and (p1 == 2 or p1 == 3), "bad meta-address"
    else:
        assert len(meta) > 0, "empty meta-address"


@internal
def _set(registrant: address, schemeId: uint256, meta: Bytes[MAX_META]):
    self._check_meta(schemeId, meta)
    self.stealthMetaAddressOf[registrant][schemeId] = meta
    log StealthMetaAddressSet(registrant=registrant, schemeId=schemeId, stealthMetaAddress=meta)


@external
def registerKeys(schemeId: uint256, stealthMetaAddress: Bytes[MAX_META]):
    """
    @notice Publish (or replace) the caller's stealth meta-address for a scheme.
    @param schemeId Stealth address scheme (1 = secp256k1: spending key then viewing key, compressed).
    @param stealthMetaAddress The meta-address bytes.
    """
    self._set(msg.sender, schemeId, stealthMetaAddress)


@external
def registerKeysOnBehalf(
    registrant: address, schemeId: uint256, signature: Bytes[65], stealthMetaAddress: Bytes[MAX_META]
):
    """
    @notice Publish a meta-address for `registrant`, who signed it (EIP-712 or ERC-1271).
    @dev The signed nonce is consumed, so a signature works once.
    @param registrant Whose meta-address is set.
    @param schemeId Stealth address scheme.
    @param signature 65-byte (r, s, v) signature over the Erc6538RegistryEntry typed data.
    @param stealthMetaAddress The meta-address bytes.
    """
    nonce: uint256 = self.nonceOf[registrant]
    self.nonceOf[registrant] = nonce + 1
    struct_hash: bytes32 = keccak256(
        abi_encode(ERC6538REGISTRY_ENTRY_TYPE_HASH, schemeId, keccak256(stealthMetaAddress), nonce)
    )
    digest: bytes32 = eip712_domain_separator._hash_typed_data_v4(struct_hash)
    # EOA: ecrecover with low s; contract wallet: ERC-1271 isValidSignature
    assert signatures._is_valid_signature_now(registrant, digest, signature), "bad signature"
    log NonceIncremented(registrant=registrant, newNonce=nonce + 1)
    self._set(registrant, schemeId, stealthMetaAddress)


@external
def incrementNonce():
    """
    @notice Invalidate the caller's outstanding on-behalf signatures.
    """
    nonce: uint256 = self.nonceOf[msg.sender] + 1
    self.nonceOf[msg.sender] = nonce
    log NonceIncremented(registrant=msg.sender, newNonce=nonce)


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    """
    @notice EIP-712 domain separator (recomputed, so it follows the chain id after a fork).
    @return The separator.
    """
    return eip712_domain_separator._domain_separator_v4()
