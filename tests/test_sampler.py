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


@pytest.mark.parametrize("model", ["srresnet", "srcnn"])  # srcnn: an interpolating network's upscaled inputs
def test_prepared_source_gives_the_loops_former_batches(model, tiny_data):
    """make_sampler(cfg) samples exactly what srcore.loop built itself before data sources were a registry."""
    from srcore.config import preset_config
    from srcore.data import interpolated_pairs
    from srcore.sampling import make_sampler

    # val_holdout=0: the whole training split, as then (a new run holds validation images out of it by default)
    cfg = preset_config("smoke", model, data=str(tiny_data), seed=3, val_holdout=0)
    if cfg.interpolating:
        (hr, inputs), scale = interpolated_pairs(cfg.data, "train", cfg.train_scales), 1
    else:
        (hr, inputs), scale = load_pairs(cfg.data, "train", cfg.scale), cfg.scale
    before = PatchSampler(hr, inputs, scale, cfg.patch_size, cfg.batch_size, cfg.seed)
    sampler = make_sampler(cfg)
    for step in (0, 7):
        for a, b in zip(sampler.batch(step), before.batch(step)):
            np.testing.assert_array_equal(a, b)
    sampler.close()


def test_a_data_source_is_one_registered_entry(tiny_data):
    from srcore.config import preset_config
    from srcore.sampling import DATA_SOURCES, make_sampler

    cfg = preset_config("smoke", "srresnet", data=str(tiny_data))

    class Constant:
        def batch(self, step, shard=(0, 1)):
            return np.zeros((1, 4, 4, 3), np.float32), np.zeros((1, 16, 16, 3), np.float32)

        def close(self):
            pass

    DATA_SOURCES.register("constant", lambda c: Constant())
    try:
        assert make_sampler(cfg, "constant").batch(0)[1].shape == (1, 16, 16, 3)
    finally:
        DATA_SOURCES.unregister("constant")
    with pytest.raises(UserError, match="unknown training data source 'constant'; expected one of prepared"):
        make_sampler(cfg, "constant")
