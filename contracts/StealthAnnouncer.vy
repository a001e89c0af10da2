# pragma version ~=0.4.3
"""
@title Stealth announcer (ERC-5564)
@notice Singleton that emits an Announcement for every payment to a stealth address,
        so recipients can find their payments by scanning one event stream with
        their viewing key. It holds no state and no funds.
@dev Scheme 1 (secp256k1 with view tags): `ephemeralPubKey` is a 33-byte compressed
     point and the first byte of `metadata` is the view tag. Function and event
     names follow the ERC exactly so standard scanners work unchanged.
"""

MAX_METADATA: constant(uint256) = 1024
MAX_EPHEMERAL: constant(uint256) = 65

event Announcement:
    schemeId: indexed(uint256)
    stealthAddress: indexed(address)
    caller: indexed(address)
    ephemeralPubKey: Bytes[MAX_EPHEMERAL]
    metadata: Bytes[MAX_METADATA]


@external
def announce(
    schemeId: uint256, stealthAddress: address, ephemeralPubKey: Bytes[MAX_EPHEMERAL], metadata: Bytes[MAX_METADATA]
):
    """
    @notice Announce a payment to `stealthAddress` (ERC-5564 IERC5564Announcer).
    @dev Anyone may announce; scanners must not trust an announcement and verify
         the derived address, so spam can waste a scanner's time but never
         mislead it. The view tag filters 255 of 256 foreign announcements.
    @param schemeId Stealth address scheme (1 = secp256k1 with view tags).
    @param stealthAddress The one-time address that received the payment.
    @param ephemeralPubKey The payer's ephemeral public key (33 bytes for scheme 1).
    @param metadata View tag first, then optional payment description
                    (selector, token, amount as in the ERC).
    """
    assert stealthAddress != empty(address), "zero address"
    assert len(ephemeralPubKey) > 0, "empty ephemeral key"
    assert len(metadata) > 0, "no view tag"
    log Announcement(
        schemeId=schemeId,
        stealthAddress=stealthAddress,
        caller=msg.sender,
        ephemeralPubKey=ephemeralPubKey,
        metadata=metadata,
    )
