from __future__ import annotations

import numpy as np
import pytest

from srcore.data import PatchSampler, augment, load_pairs
from srcore.errors import UserError


def _images(n=3, lr=16, s=4, seed=0):
    rng = np.random.default_rng(seed)
    lrs = [rng.integers(0, 256, (lr, lr + 2 * i, 3), dtype=np.uint8) for i in range(n)]
    # HR = nearest upsampling of LR, so alignment of every patch pair can be checked exactly.
    hrs = [im.repeat(s, 0).repeat(s, 1) for im in lrs]
    return hrs, lrs


def test_batch_shapes_ranges_and_alignment():
    hrs, lrs = _images()
    lr, hr = PatchSampler(hrs, lrs, scale=4, patch_size=32, batch_size=5, seed=1).batch(0)
    assert lr.shape == (5, 8, 8, 3) and hr.shape == (5, 32, 32, 3)
    assert lr.dtype == hr.dtype == np.float32
    assert lr.min() >= 0 and lr.max() <= 1 and hr.min() >= -1 and hr.max() <= 1
    lr_u8 = np.round(lr * 255).astype(np.uint8)
    hr_u8 = np.round((hr + 1) * 127.5).astype(np.uint8)
    np.testing.assert_array_equal(hr_u8, lr_u8.repeat(4, 1).repeat(4, 2))


def test_same_seed_same_batches_and_pure_function_of_step():
    hrs, lrs = _images()
    a = PatchSampler(hrs, lrs, 4, 32, 4, seed=7)
    b = PatchSampler(hrs, lrs, 4, 32, 4, seed=7)
    later = [b.batch(s) for s in (5, 2)]  # order of calls must not matter
    for (lr1, hr1), step in zip(later, (5, 2)):
        lr2, hr2 = a.batch(step)
        np.testing.assert_array_equal(lr1, lr2)
        np.testing.assert_array_equal(hr1, hr2)
    assert not np.array_equal(a.batch(0)[0], a.batch(1)[0])
    assert not np.array_equal(a.batch(0)[0], PatchSampler(hrs, lrs, 4, 32, 4, seed=8).batch(0)[0])


def test_ranks_get_different_streams():
    hrs, lrs = _images()
    r0 = PatchSampler(hrs, lrs, 4, 32, 4, seed=7, rank=0).batch(3)[0]
    r1 = PatchSampler(hrs, lrs, 4, 32, 4, seed=7, rank=1).batch(3)[0]
    assert not np.array_equal(r0, r1)


def test_augment_is_the_dihedral_group():
    img = np.arange(12).reshape(3, 4)
    outs = {augment(img, t).tobytes() + bytes(augment(img, t).shape) for t in range(8)}
    assert len(outs) == 8
    np.testing.assert_array_equal(augment(img, 0), img)


def test_patch_larger_than_images_is_a_user_error():
    hrs, lrs = _images(lr=8)
    with pytest.raises(UserError, match="smaller than"):
        PatchSampler(hrs, lrs, 4, 48, 2)


def test_load_pairs_from_prepared_folder(tiny_data):
    hrs, lrs = load_pairs(tiny_data, "train", 4)
    assert len(hrs) == len(lrs) == 8 and hrs[0].shape == (64, 64, 3) and lrs[0].shape == (16, 16, 3)
    assert len(load_pairs(tiny_data, "val", 4, limit=2)[0]) == 2
    with pytest.raises(UserError, match="prepare_bsd500"):
        load_pairs(tiny_data, "train", 2)


def test_shards_are_slices_of_the_whole_batch() -> None:
    """For distributed training: worker i of n gets exactly rows [i*b/n, (i+1)*b/n) of the whole batch."""
    rng = np.random.default_rng(1)
    hr = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(3)]
    lr = [h[::4, ::4].copy() for h in hr]
    sampler = PatchSampler(hr, lr, 4, 16, 6, seed=3)
    whole_lr, whole_hr = sampler.batch(7)
    for n in (1, 2, 3, 6):
        parts = [sampler.batch(7, shard=(i, n)) for i in range(n)]
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), whole_lr)
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), whole_hr)
    with pytest.raises(UserError, match="split evenly"):
        sampler.batch(0, shard=(0, 4))
