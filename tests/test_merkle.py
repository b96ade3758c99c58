"""RFC 6962 Merkle tree against the test vectors published by transparency-dev/merkle.

Vectors are copied from transparency-dev/merkle: rfc6962/rfc6962_test.go (hasher),
testonly/constants.go (leaf inputs, node and root hashes) and proof/verify_test.go
(inclusion and consistency proofs and the corrupted-proof probes).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.audit import merkle


def h(hexstr: str) -> bytes:
    return bytes.fromhex(hexstr)


EMPTY = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")

LEAF_INPUTS = [
    h(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
NODE_HASHES = [
    [
        h(x)
        for x in (
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        )
    ],
    [
        h(x)
        for x in (
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        )
    ],
    [
        h(x)
        for x in (
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        )
    ],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]
ROOTS = [EMPTY] + [
    h(x)
    for x in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
LEAF_HASHES = [merkle.leaf_hash(x) for x in LEAF_INPUTS]

# (1-based leaf, tree size, proof) as in verify_test.go's inclusionProofs.
INCLUSION = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (3, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        2,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]


def test_hasher_vectors() -> None:
    assert merkle.EMPTY_ROOT == EMPTY
    assert merkle.root([]) == EMPTY
    assert merkle.leaf_hash(b"") == h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert merkle.leaf_hash(b"L123456") == h(
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert merkle.node_hash(b"N123", b"N456") == h(
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_leaf_and_node_do_not_collide() -> None:
    a, b = merkle.leaf_hash(b"Hello"), merkle.leaf_hash(b"World")
    assert a != b
    assert merkle.node_hash(a, b) != merkle.leaf_hash(a + b)
    assert merkle.node_hash(a, b) != merkle.node_hash(b, a)


def test_node_hashes_of_complete_subtrees() -> None:
    for level, hashes in enumerate(NODE_HASHES):
        width = 1 << level
        for i, want in enumerate(hashes):
            assert merkle.root(LEAF_HASHES[i * width : (i + 1) * width]) == want


@pytest.mark.parametrize("size", range(9))
def test_roots_of_every_size(size: int) -> None:
    assert merkle.root(LEAF_HASHES[:size]) == ROOTS[size]
    builder = merkle.RootBuilder()
    builder.extend(LEAF_HASHES[:size])
    assert builder.root() == ROOTS[size]
    assert len(builder.stack) == bin(size).count("1")


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_inclusion_vectors(leaf: int, size: int, proof: list[bytes]) -> None:
    subtree = merkle.list_subtree(LEAF_HASHES[:size])
    assert merkle.inclusion_proof(leaf - 1, size, subtree) == proof
    assert merkle.root_from_inclusion_proof(leaf - 1, size, LEAF_HASHES[leaf - 1], proof) == ROOTS[size]
    assert merkle.verify_inclusion(leaf - 1, size, LEAF_HASHES[leaf - 1], proof, ROOTS[size])


def _corrupt_inclusion(index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes) -> list[tuple]:
    """The probes of verify_test.go's corruptInclusionProof: each must fail."""
    probes = [
        (index - 1, size, root, leaf, proof, "leafIndex - 1"),
        (index + 1, size, root, leaf, proof, "leafIndex + 1"),
        (index ^ 2, size, root, leaf, proof, "leafIndex ^ 2"),
        (index, size * 2, root, leaf, proof, "treeSize * 2"),
        (index, size // 2, root, leaf, proof, "treeSize / 2"),
        (index, size, root, b"WrongLeaf", proof, "wrong leaf"),
        (index, size, EMPTY, leaf, proof, "empty root"),
        (index, size, SOME_HASH, leaf, proof, "random root"),
        (index, size, root, leaf, [*proof, b""], "trailing garbage"),
        (index, size, root, leaf, [*proof, root], "trailing root"),
        (index, size, root, leaf, [b"", *proof], "preceding garbage"),
        (index, size, root, leaf, [root, *proof], "preceding root"),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 8]) + wrong[i][1:]
        probes.append((index, size, root, leaf, wrong, f"modified proof[{i}] bit 3"))
    if proof:
        probes.append((index, size, root, leaf, proof[:-1], "removed component"))
    if len(proof) > 1:
        probes.append((index, size, root, leaf, [SOME_HASH, proof[0], *proof[1:]], "inserted component"))
    return probes


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_inclusion_rejects_corrupted_probes(leaf: int, size: int, proof: list[bytes]) -> None:
    wrongly_accepted = [
        desc
        for index, sz, root, lh, pr, desc in _corrupt_inclusion(
            leaf - 1, size, proof, ROOTS[size], LEAF_HASHES[leaf - 1]
        )
        if merkle.verify_inclusion(index, sz, lh, pr, root)
    ]
    assert wrongly_accepted == []


def test_inclusion_single_entry_and_bad_sizes() -> None:
    single = merkle.leaf_hash(b"data")
    assert merkle.verify_inclusion(0, 1, single, [], single)
    assert not merkle.verify_inclusion(0, 1, b"", [], single)
    assert not merkle.verify_inclusion(0, 1, single, [], b"")
    assert not merkle.verify_inclusion(0, 1, b"", [], b"")
    for index, size in ((0, 0), (0, 1), (1, 0), (2, 1)):
        assert not merkle.verify_inclusion(index, size, SOME_HASH, [], b"")
        assert not merkle.verify_inclusion(index, size, b"", [], EMPTY)
        assert not merkle.verify_inclusion(index, size, SOME_HASH, [], EMPTY)
    with pytest.raises(ValueError):
        merkle.inclusion_proof(8, 8, merkle.list_subtree(LEAF_HASHES))


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY)
def test_consistency_vectors(size1: int, size2: int, proof: list[bytes]) -> None:
    subtree = merkle.list_subtree(LEAF_HASHES[:size2])
    assert merkle.consistency_proof(size1, size2, subtree) == proof
    assert merkle.verify_consistency(size1, size2, ROOTS[size1], ROOTS[size2], proof)


def _corrupt_consistency(s1: int, s2: int, r1: bytes, r2: bytes, proof: list[bytes]) -> list[tuple]:
    """The probes of verify_test.go's corruptConsistencyProof: each must fail."""
    probes = [
        (s1 - 1, s2, r1, r2, proof, "size1 - 1"),
        (s1 + 1, s2, r1, r2, proof, "size1 + 1"),
        (s1 ^ 2, s2, r1, r2, proof, "size1 ^ 2"),
        (s1, s2 * 2, r1, r2, proof, "size2 * 2"),
        (s1, s2 // 2, r1, r2, proof, "size2 / 2"),
        (s1, s2, b"WrongRoot", r2, proof, "wrong root1"),
        (s1, s2, r1, b"WrongRoot", proof, "wrong root2"),
        (s1, s2, r2, r1, proof, "swapped roots"),
        (s1, s2, r1, r2, [], "empty proof"),
        (s1, s2, r1, r2, [*proof, b""], "trailing garbage"),
        (s1, s2, r1, r2, [*proof, r1], "trailing root1"),
        (s1, s2, r1, r2, [*proof, r2], "trailing root2"),
        (s1, s2, r1, r2, [b"", *proof], "preceding garbage"),
        (s1, s2, r1, r2, [r1, *proof], "preceding root1"),
        (s1, s2, r1, r2, [r2, *proof], "preceding root2"),
        (s1, s2, r1, r2, [proof[0], *proof], "preceding proof[0]"),
        (s1, s2, r1, r2, proof[:-1], "truncated proof"),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 16]) + wrong[i][1:]
        probes.append((s1, s2, r1, r2, wrong, f"modified proof[{i}] bit 4"))
    return probes


@pytest.mark.parametrize(("size1", "size2", "proof"), [c for c in CONSISTENCY if c[2]])
def test_consistency_rejects_corrupted_probes(size1: int, size2: int, proof: list[bytes]) -> None:
    wrongly_accepted = [
        desc
        for s1, s2, r1, r2, pr, desc in _corrupt_consistency(size1, size2, ROOTS[size1], ROOTS[size2], proof)
        if merkle.verify_consistency(s1, s2, r1, r2, pr)
    ]
    assert wrongly_accepted == []


@pytest.mark.parametrize(
    ("size1", "size2", "root1", "root2", "proof", "ok"),
    [
        (0, 0, b"don't care 1", b"don't care 2", [], False),
        (1, 1, b"don't care 1", b"don't care 2", [], False),
        (0, 0, b"don't care 1", b"don't care 1", [], True),
        (0, 1, b"don't care 1", b"don't care 2", [], True),
        (1, 1, b"don't care 2", b"don't care 2", [], True),
        (1, 0, b"don't care 1", b"don't care 2", [], False),
        (2, 1, b"don't care 1", b"don't care 2", [], False),
        (1, 2, b"don't care 1", b"don't care 2", [], False),
        (0, 0, EMPTY, b"don't care 2", [], False),
        (1, 1, EMPTY, b"don't care 2", [], False),
        (0, 0, EMPTY, EMPTY, [EMPTY], False),
        (0, 1, EMPTY, EMPTY, [EMPTY], False),
        (1, 1, EMPTY, EMPTY, [EMPTY], False),
    ],
)
def test_consistency_edge_cases(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes], ok: bool
) -> None:
    assert merkle.verify_consistency(size1, size2, root1, root2, proof) is ok


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 70), data=st.data())
def test_proofs_reproduce_the_root(size: int, data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    subtree = merkle.list_subtree(leaves)
    root = merkle.root(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(index, size, subtree)
    assert len(proof) <= size.bit_length()
    assert merkle.root_from_inclusion_proof(index, size, leaves[index], proof) == root
    assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(b"other"), proof, root)
    size1 = data.draw(st.integers(0, size))
    cproof = merkle.consistency_proof(size1, size, subtree)
    assert merkle.verify_consistency(size1, size, merkle.root(leaves[:size1]), root, cproof)
    if 0 < size1 < size:
        assert not merkle.verify_consistency(size1, size, merkle.leaf_hash(b"x"), root, cproof)
