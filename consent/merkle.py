"""The Merkle tree hash of RFC 6962 (section 2.1), over the chain heads of one brand.

A leaf is one contact's chain head, 48 bytes: the contact's internal id and its sequence
(8 bytes each, big-endian) and its head hash (32 bytes). Leaves are sorted by contact id.
Leaf and node hashes are domain-separated as in Certificate Transparency: SHA-256(0x00 || leaf)
and SHA-256(0x01 || left || right), so no leaf can pass for a node.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable

LEAF_SIZE = 48
_LEAF = struct.Struct(">QQ32s")


def leaf_bytes(*, contact_id: int, sequence: int, head: str) -> bytes:
    return _LEAF.pack(contact_id, sequence, bytes.fromhex(head))


def leaf_unpack(leaf: bytes) -> tuple[int, int, str]:
    contact_id, sequence, head = _LEAF.unpack(leaf)
    return contact_id, sequence, head.hex()


def leaves_split(packed: bytes) -> list[bytes]:
    return [packed[i : i + LEAF_SIZE] for i in range(0, len(packed), LEAF_SIZE)]


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_root(leaves: Iterable[bytes]) -> str:
    """MTH(D[n]) as a hex string. Pairing each level from the left and carrying an odd last node
    up unchanged gives the same tree as RFC 6962's split at the largest power of two below n,
    without recursion or copies."""
    level = [leaf_hash(leaf) for leaf in leaves]
    if not level:
        return hashlib.sha256(b"").hexdigest()
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0].hex()
