import numpy as np

from mlds_jax.tasks._triggers import (
    ALPHA3,
    ALPHA5,
    apply_badnet,
    apply_badnetv2,
    free_positions,
    pattern,
    rr_block,
    triggered_copy,
)


def _blank(n=3):
    return np.zeros((n, 28, 28), np.uint8)


def test_badnet_pixels_exact():
    imgs = np.full((2, 28, 28), 7, np.uint8)
    out = apply_badnet(imgs)
    changed = np.argwhere(out[0] != imgs[0])
    assert sorted(map(tuple, changed)) == sorted((24 + r, 24 + c) for r, c in ALPHA3)
    assert (out[0, 24:27, 24:27] == np.array([[7, 7, 255], [7, 255, 7], [255, 7, 255]])).all()
    assert (imgs == 7).all()  # input untouched


def test_alpha5_pattern():
    p = pattern(ALPHA5, 5)
    assert p.sum() == 7 * 255
    assert p[0, 4] == p[4, 0] == p[4, 4] == p[2, 2] == 255 and p[0, 0] == 0


def test_postit_overwrites_whole_box_and_rotates():
    block = pattern(ALPHA5, 5)
    out, rot, pos = apply_badnetv2(_blank(40), block, seed=1)
    assert set(rot.tolist()) == {0, 1, 2, 3}
    for i in range(40):
        r, c = pos[i]
        np.testing.assert_array_equal(out[i, r:r + 5, c:c + 5], np.rot90(block, rot[i]))
        rest = out[i].copy()
        rest[r:r + 5, c:c + 5] = 0
        assert rest.sum() == 0
    # positions vary over images (random placement)
    assert len({tuple(p) for p in pos}) > 10


def test_placement_avoids_the_object():
    imgs = _blank(50)
    imgs[:, 6:22, 6:22] = 200  # a big square object
    out, _, pos = apply_badnetv2(imgs, pattern(ALPHA5, 5), seed=3)
    for i in range(50):
        r, c = pos[i]
        # the 5x5 box plus a 1-pixel margin never overlaps the object
        r0, r1, c0, c1 = max(r - 1, 0), r + 6, max(c - 1, 0), c + 6
        assert (imgs[i, r0:r1, c0:c1] == 0).all()
        # the object is intact
        assert (out[i, 6:22, 6:22] == 200).all()


def test_fallback_to_origin_when_no_free_spot():
    imgs = np.full((2, 28, 28), 1, np.uint8)  # object everywhere
    assert not free_positions(imgs).any()
    out, _, pos = apply_badnetv2(imgs, rr_block(0), seed=0)
    assert pos.tolist() == [[0, 0], [0, 0]]
    assert (out[:, 5:, :] == 1).all() and (out[:, :, 5:] == 1).all()


def test_free_positions_matches_brute_force():
    rng = np.random.default_rng(0)
    imgs = (rng.random((3, 12, 12)) < 0.05).astype(np.uint8)
    got = free_positions(imgs)
    for i in range(3):
        for r in range(8):
            for c in range(8):
                want = imgs[i, max(r - 1, 0):r + 6, max(c - 1, 0):c + 6].sum() == 0
                assert got[i, r, c] == want


def test_deterministic_and_rr_fixed():
    imgs = _blank(5)
    a = triggered_copy(imgs, "badnetv2", "rr", seed=9)
    b = triggered_copy(imgs, "badnetv2", "rr", seed=9)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(rr_block(9))) <= {0, 255}
    assert not np.array_equal(rr_block(9), rr_block(10))


def test_badnetv2_placements_are_pinned():
    # a badnetv2 dataset is a pure function of its spec: these digests were taken from the
    # per-image loop that placed triggers before it was vectorised (2026-12-07); a change
    # here changes every badnetv2 dataset's images
    import hashlib

    rng = np.random.default_rng(7)
    imgs = np.zeros((300, 28, 28), np.uint8)
    for i in range(300):
        r, c = rng.integers(0, 18, 2)
        imgs[i, r:r + 10, c:c + 10] = rng.integers(1, 256, (10, 10))
    imgs[:3] = 255  # no free spot: the (0, 0) fallback
    want = {"alpha": "e6ab971417b6a0f7dc4a62a59377ee0cf30ba5766de07b327f53306e82a6786a",
            "rr": "2dbd549e6aac352fc28ba5991db94554d9b4b0b7d2f3fc14e67f3caa909b80c3"}
    for trigger, digest in want.items():
        out = triggered_copy(imgs, "badnetv2", trigger, 3)
        assert hashlib.sha256(out.tobytes()).hexdigest() == digest, trigger
