"""RFC 6962 / RFC 9162 Merkle tree: roots, inclusion proofs and consistency proofs over SHA-256.

Leaves are hashed as SHA-256(0x00 || data) and interior nodes as SHA-256(0x01 || left || right),
so a leaf can never be passed off as a node. Proof *generation* asks a `subtree(start, end)`
callback for the root of leaves [start, end), which lets callers stream leaves from a store;
proof *verification* needs nothing but the proof, and is what a third party runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Subtree = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class RootBuilder:
    """Streaming tree head: append leaf hashes one by one, ask for the root at any size.

    Holds one hash per set bit of the size (the "compact range"), so memory is O(log n).
    """

    __slots__ = ("size", "stack")

    def __init__(self, size: int = 0, stack: Sequence[bytes] = ()) -> None:
        if len(stack) != bin(size).count("1"):
            raise ValueError("compact range does not match the size")
        self.size = size
        self.stack = list(stack)

    def append(self, leaf: bytes) -> None:
        stack = self.stack
        stack.append(leaf)
        self.size += 1
        k = self.size
        # Each trailing zero bit of the new size is a pair of equal subtrees that just completed.
        while not k & 1:
            right = stack.pop()
            stack[-1] = hashlib.sha256(b"\x01" + stack[-1] + right).digest()
            k >>= 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        return fold(self.stack)

    def copy(self) -> RootBuilder:
        return RootBuilder(self.size, self.stack)


def fold(stack: Sequence[bytes]) -> bytes:
    """Root of a compact range (subtree roots from left to right, sizes descending powers of two)."""
    if not stack:
        return EMPTY_ROOT
    h = stack[-1]
    for left in reversed(stack[:-1]):
        h = hashlib.sha256(b"\x01" + left + h).digest()
    return h


def root(leaves: Iterable[bytes]) -> bytes:
    """Merkle tree hash of a stream of leaf hashes, in O(n) time and O(log n) memory."""
    builder = RootBuilder()
    builder.extend(leaves)
    return builder.root()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def list_subtree(leaves: Sequence[bytes]) -> Subtree:
    """A `subtree` callback over leaf hashes held in memory."""
    return lambda start, end: root(leaves[start:end])


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """RFC 6962 PATH(index, D[0:size]), leaf-to-root order."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    proof: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            lo += k
    proof.reverse()
    return proof


def consistency_proof(size1: int, size2: int, subtree: Subtree) -> list[bytes]:
    """RFC 6962 PROOF(size1, D[0:size2]): shows the first size1 leaves are unchanged in size2."""
    if not 0 <= size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    if size1 == 0 or size1 == size2:
        return []
    proof: list[bytes] = []
    lo, hi, m, whole = 0, size2, size1, True
    while True:
        if m == hi - lo:
            if not whole:
                proof.append(subtree(lo, hi))
            break
        k = _split(hi - lo)
        if m <= k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    proof.reverse()
    return proof


def _sizes_ok(hashes: Iterable[bytes]) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2; raises ValueError when the proof cannot belong to (index, size)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    if not _sizes_ok([leaf, *proof]):
        raise ValueError("hashes must be 32 bytes")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ValueError("proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes) -> bool:
    try:
        return root_from_inclusion_proof(index, size, leaf, proof) == root_hash
    except ValueError:
        return False


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: True when a tree of size2 with root2 extends a tree of size1 with root1."""
    if size2 < size1 or size1 < 0:
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0:
        return not proof
    if not proof or not _sizes_ok(proof):
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # an exact power of two is itself a node of the bigger tree
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root1 and sr == root2
