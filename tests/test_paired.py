"""The paired reward and training from good photos alone, added beside the spec's WGAN reward: aligned
pair data, name matching, the synthetic degradation, the reward's sign and scale, a tiny end-to-end
paired run, and the recorded input domain."""
import json
import os
import types

import cv2
import numpy as np
import pytest

import configurator
import data
import domain
import image_io
import net
import train
import util
from replay_memory import ReplayMemory
from test_train import TINY

PHOTOS_CFG = dict(input_kind='folder', input_dir='', input_set=None, input_encoding='display',
                  target_kind='folder', target_dir='', target_set=None, target_encoding='display',
                  folds_dir='', val_fraction=0.0, val_first=None, val_spread=False, seed=0,
                  batch_size=8, reward='paired', degrade_exposure=(-2.5, 2.5),
                  degrade_white_balance=0.15, degrade_gamma=1.15, degrade_contrast=0.1,
                  degrade_saturation=0.15, degrade_curve='clip', degrade_knee=(0.35, 0.85),
                  degrade_white=(1.5, 8.0), degrade_toe=(0.0, 0.6), degrade_clip_fraction=0.25)


def make_cfg(**kw):
    return types.SimpleNamespace(**{**PHOTOS_CFG, **kw})


def gradient_image(seed, size=96):
    """A smooth random colour image (8-bit), so crops at different places differ."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)


def write_pairs(tmp_path, names, target_names=None):
    """inputs/<name>.png and targets/<name>.jpg-free PNGs where target = 255 - input (aligned test)."""
    (tmp_path / 'in').mkdir()
    (tmp_path / 'out').mkdir()
    for k, name in enumerate(names):
        cv2.imwrite(str(tmp_path / 'in' / f'{name}.png'), gradient_image(k))
    for k, name in enumerate(target_names or names):
        cv2.imwrite(str(tmp_path / 'out' / f'{name}.png'), 255 - gradient_image(k))
    return make_cfg(input_dir=str(tmp_path / 'in'), target_dir=str(tmp_path / 'out'))


def test_folder_pairs_are_aligned(tmp_path):
    cfg = write_pairs(tmp_path, [f'{k:04d}' for k in range(5)])
    provider = data.make_pair_provider(cfg)
    batch = provider.next_batch(32)
    assert batch.shape == (32, 64, 64, 6)
    # Every target channel is 1 - the input at the same place: the same crop and the same flip.
    np.testing.assert_allclose(batch[..., 3:], 1.0 - batch[..., :3], atol=2.5 / 255)
    assert 'pairs' in provider.description


def test_unmatched_names_are_named(tmp_path):
    cfg = write_pairs(tmp_path, ['a', 'b', 'c'], target_names=['a', 'c'])
    with pytest.raises(data.DataError, match=r"1 input image\(s\) have no target .*b\.png"):
        data.make_pair_provider(cfg)


def test_pairs_match_across_extensions(tmp_path):
    cfg = write_pairs(tmp_path, ['x', 'y'])
    os.rename(tmp_path / 'out' / 'x.png', tmp_path / 'out' / 'x.tif.png')   # not a match
    with pytest.raises(data.DataError, match='x.png'):
        data.make_pair_provider(cfg)
    cv2.imwrite(str(tmp_path / 'out' / 'x.jpg'), 255 - gradient_image(0))   # same stem: a match
    assert data.make_pair_provider(cfg).next_batch(4).shape == (4, 64, 64, 6)


def test_render_exposure_clips_like_a_sensor():
    img = np.full((2, 2, 3), 0.5, np.float32)
    assert np.allclose(data.render_exposure(img, 0.0), np.round(0.5 * 255) / 255)
    linear = image_io.srgb_to_linear(np.float32(0.5))
    assert np.allclose(data.render_exposure(img, -1.0), np.round(image_io.linear_to_srgb(linear / 2) * 255) / 255)
    assert np.all(data.render_exposure(img, 3.0) == 1.0)        # 0.21 * 8 > 1: clipped white
    assert np.all(data.render_exposure(img, -20.0) == 0.0)
    np.testing.assert_allclose(image_io.linear_to_srgb(image_io.srgb_to_linear(np.linspace(0, 1, 11))),
                               np.linspace(0, 1, 11), atol=1e-6)


def test_degradation_ranges_and_clipping():
    rng = np.random.default_rng(0)
    grey = np.full((400, 8, 8, 3), 0.2, np.float32)         # dark grey: a +2.5 EV gain stays below 1
    only_exposure = make_cfg(degrade_white_balance=0.0, degrade_gamma=1.0, degrade_contrast=0.0,
                             degrade_saturation=0.0)
    out = data.Degradation(only_exposure, paired=True)(grey, rng)
    assert out.shape == (400, 8, 8, 6) and np.array_equal(out[..., 3:], grey)   # the original beside it
    ev = np.log2(image_io.srgb_to_linear(out[:, 0, 0, 1]) / image_io.srgb_to_linear(np.float32(0.2)))
    assert -2.55 < ev.min() < -2.3 and 2.3 < ev.max() < 2.55          # fills -2.5..+2.5 EV
    assert np.all(out[..., :3] == np.round(out[..., :3] * 255) / 255)  # 8-bit values
    bright = np.full((50, 8, 8, 3), 0.9, np.float32)
    plus = make_cfg(degrade_exposure=(2.0, 2.0), degrade_white_balance=0.0, degrade_gamma=1.0,
                    degrade_contrast=0.0, degrade_saturation=0.0)
    assert np.all(data.Degradation(plus, paired=False)(bright, rng) == 1.0)    # highlights clip
    # The colour cast keeps luminance; all changes stay within [0, 1].
    full = data.Degradation(make_cfg(degrade_exposure=(0.0, 0.0)), paired=False)
    x = full(np.random.default_rng(1).random((200, 8, 8, 3), dtype=np.float32), rng)
    assert x.min() >= 0 and x.max() <= 1
    cast = data.Degradation(make_cfg(degrade_exposure=(0.0, 0.0), degrade_gamma=1.0, degrade_contrast=0.0,
                                     degrade_saturation=0.0), paired=False)(grey, rng)
    lum = image_io.srgb_to_linear(cast[:, 0, 0]) @ np.array(util.LUM_WEIGHTS)
    np.testing.assert_allclose(lum, image_io.srgb_to_linear(np.float32(0.2)), rtol=0.02)
    assert np.ptp(cast[:, 0, 0], axis=1).max() > 0.02                 # but does shift the colours
    with pytest.raises(data.DataError, match="input_encoding='display'"):
        data.Degradation(make_cfg(input_encoding='srgb'), paired=True)


def test_synthetic_provider_serves_degraded_pairs(tmp_path):
    for k in range(4):
        cv2.imwrite(str(tmp_path / f'{k}.png'), gradient_image(k))
    cfg = make_cfg(input_kind='synthetic', input_dir=str(tmp_path), target_dir=str(tmp_path))
    batch = data.make_pair_provider(cfg).next_batch(16)
    assert batch.shape == (16, 64, 64, 6)
    assert not np.allclose(batch[..., :3], batch[..., 3:])
    unpaired = data.make_provider(cfg, 'input')                      # the critic reward's inputs
    assert unpaired.next_batch(8).shape == (8, 64, 64, 3)
    with pytest.raises(data.DataError, match='synthetic'):
        data.make_provider(make_cfg(target_kind='synthetic', target_dir=str(tmp_path)), 'target')


def test_val_spread_takes_every_kth():
    files = [f'{k:03d}.jpg' for k in range(20)]
    train_files, val = data.split_files(files, 0.2, val_spread=True)
    assert val == ['000.jpg', '006.jpg', '013.jpg', '019.jpg']
    assert sorted(train_files + val) == files and not set(train_files) & set(val)


def test_paired_reward_sign_and_scale():
    cfg = configurator.load_config('photos', ['--seed=0'])
    target = np.full((2, 64, 64, 3), 0.5, np.float32)
    far, near = target - 0.2, target - 0.02                       # MSE 0.04 and 0.0004
    psnr = lambda x: float(np.mean(net.paired_score(cfg, x, target)))
    assert psnr(far) == pytest.approx(-10 * np.log10(0.04 + 1e-4), abs=1e-3)
    # A step from far to near gains 10 log10(0.0401 / 0.0005) = 19.04 dB: reward 1.904, minus penalties.
    r = net.reward(cfg, net.paired_score(cfg, near, target), net.paired_score(cfg, far, target),
                   penalty=np.float32(0.25), stopped=np.zeros(2, np.float32))
    np.testing.assert_allclose(r, 0.1 * 10 * np.log10(0.0401 / 0.0005) - 0.25, rtol=1e-4)
    r_back = net.reward(cfg, net.paired_score(cfg, far, target), net.paired_score(cfg, near, target),
                        penalty=np.float32(0.0), stopped=np.zeros(2, np.float32))
    assert np.all(r_back.numpy() < -1.8)                           # moving away is punished
    # Values above 1 are clipped, as they will be written.
    assert psnr(np.full((2, 64, 64, 3), 1.7, np.float32)) == pytest.approx(psnr(np.ones((2, 64, 64, 3), np.float32)))


def test_critic_reward_ignores_targets():
    """The default (critic) reward trains as before: targets passed or not change nothing."""
    rng = np.random.default_rng(0)
    images = rng.random((2, 64, 64, 3), dtype=np.float32)
    states, noise = np.zeros((2, 11), np.float32), rng.random((2, 131), dtype=np.float32)
    cfg = configurator.load_config('example', ['--seed=0'])
    assert cfg.reward == 'critic'
    a = net.GAN(cfg).actor_step(images, states, noise, 1e-4, 1e-3, 0.1)
    b = net.GAN(cfg).actor_step(images, states, noise, 1e-4, 1e-3, 0.1, targets=1.0 - images)
    for key in ('g_loss', 'v_loss', 'reward', 'd_fake'):
        assert float(a[key]) == float(b[key])


def test_replay_memory_carries_targets():
    cfg = types.SimpleNamespace(replay_memory_size=8, batch_size=4, source_img_size=4, num_state_dim=11,
                                maximum_trajectory_length=7, over_length_keep_prob=0.5, test_steps=5, seed=0)
    counter = iter(range(1000))

    class Pairs:
        def next_batch(self, n):
            ids = np.array([next(counter) for _ in range(n)], np.float32)
            return np.concatenate([np.broadcast_to(ids[:, None, None, None], (n, 4, 4, 3)),
                                   np.broadcast_to(-ids[:, None, None, None], (n, 4, 4, 3))], axis=-1)

    memory = ReplayMemory(cfg, Pairs(), channels=6)
    records, states = memory.get_next_fake_batch()
    assert records.shape == (4, 4, 4, 6) and np.all(records[..., 3:] == -records[..., :3])
    states[:, 2] += 1
    memory.replace_memory(np.concatenate([records[..., :3] + 0.5, records[..., 3:]], -1), states)
    moved = memory.images[memory.states[:, 2] == 1]
    assert len(moved) == 4 and np.all(moved[..., 3:] == -(moved[..., :3] - 0.5))


def test_tiny_paired_run_trains_without_a_critic(tmp_path, monkeypatch, capsys):
    photos = tmp_path / 'photos'
    photos.mkdir()
    for k in range(8):
        cv2.imwrite(str(photos / f'{k:02d}.jpg'), gradient_image(k, 100))
    monkeypatch.chdir(tmp_path)
    args = ['photos', 'tiny', '--max_iter_step=3', f'--input_dir={photos}', f'--target_dir={photos}'] + TINY
    assert train.main(args) == 0
    out = capsys.readouterr().out
    assert 'each input has its own (paired reward)' in out and 'PSNR' in out and 'EMD' not in out
    model = os.path.join('models', 'photos', 'tiny')
    gan = net.GAN(configurator.load_snapshot(os.path.join(model, 'config.json')))
    assert gan.restore(model) == 4
    assert int(gan.critic_optimizer.iterations.numpy()) == 0          # no critic update
    assert int(gan.actor_optimizer.iterations.numpy()) == 30 + 3     # warm-up rollouts + one per iteration
    domain = json.load(open(os.path.join(model, 'input_domain.json')))
    assert domain['encoding'] == 'display' and len(domain['brightness']) == 5
    assert domain['brightness'] == sorted(domain['brightness'])


def test_input_domain_flags_far_photos(tmp_path):
    for k in range(6):
        cv2.imwrite(str(tmp_path / f'{k}.png'), (gradient_image(k) * 0.3).astype(np.uint8))   # dark
    cfg = make_cfg(input_dir=str(tmp_path), reward='critic')
    input_domain = domain.record(cfg, data.make_provider(cfg, 'input'))
    dark = image_io.read_image(tmp_path / '0.png')
    assert domain.check(input_domain, cv2.resize(dark, (64, 64))) is None
    finding = domain.check(input_domain, cv2.resize(np.clip(dark * 3.0, 0, 1), (64, 64)))
    assert finding.kind == 'far' and finding.outside[0][0] == 'brightness'


def test_camera_curve_round_trip_and_order():
    """The camera curve is increasing (a shoulder keeps the order of highlights), maps `white` to display
    white, and its inverse undoes it; white = 1 is the hard clip."""
    s = np.linspace(0, 12, 20001, dtype=np.float32)
    for curve in ({'knee': 0.35, 'white': 8.0, 'toe': 0.6}, data.VALIDATION_CURVE,
                  {'knee': 0.85, 'white': 1.5, 'toe': 0.0}):
        y = data.camera_curve(s, **curve)
        assert np.all(np.diff(y[s <= curve['white']]) > 0)            # strictly increasing up to white
        assert np.all(y[s >= curve['white']] == 1.0) and y[0] == 0.0
        inside = s[s < curve['white'] * 0.999]
        np.testing.assert_allclose(data.inverse_camera_curve(data.camera_curve(inside, **curve), **curve),
                                   inside, rtol=1e-4, atol=1e-6)
        mid = (s > 0.06) & (s < curve['knee'])
        np.testing.assert_allclose(y[mid], s[mid], rtol=1e-6)           # mid-tones pass unchanged
    hard = data.camera_curve(s, knee=0.6, white=1.0, toe=0.0)
    np.testing.assert_allclose(hard, np.minimum(s, 1.0), atol=1e-6)


def test_camera_render_identity_at_zero_ev_and_shoulder_keeps_highlights():
    levels = np.arange(256, dtype=np.float32) / 255
    for curve in (data.VALIDATION_CURVE, {'knee': 0.35, 'white': 8.0, 'toe': 0.6}):
        assert np.array_equal(data.render_exposure(levels, 0.0, curve), levels)   # EV 0: every level kept
        up = data.render_exposure(levels, 1.5, curve)
        assert np.all(np.diff(up) >= 0)                                  # highlight order kept
        # Where the hard clip sends the top third of the levels to white, the shoulder keeps them apart.
        assert len(np.unique(up[170:])) > 15 and len(np.unique(data.render_exposure(levels, 1.5)[170:])) == 1


def test_camera_degradation_mixes_shoulders_and_clips():
    rng = np.random.default_rng(0)
    cfg = make_cfg(degrade_curve='camera', degrade_exposure=(1.5, 1.5), degrade_white_balance=0.0,
                   degrade_gamma=1.0, degrade_contrast=0.0, degrade_saturation=0.0)
    curves = data.Degradation(cfg, paired=False).curves(2000, rng)
    hard = curves['white'][:, 0, 0, 0] == 1.0
    assert 0.22 < hard.mean() < 0.28                               # degrade_clip_fraction of hard clips
    white = curves['white'][~hard]
    assert white.min() >= 1.5 and white.max() <= 8.0 and np.median(white) < 4.0   # log-uniform headroom
    bright = np.tile(np.linspace(0.6, 1.0, 64, dtype=np.float32)[None, :, None, None], (400, 1, 8, 3))
    out = data.Degradation(cfg, paired=False)(bright, rng)
    distinct = np.array([len(np.unique(o[:, 0, 0])) for o in out])
    clip = data.render_exposure(bright[0], 1.5)
    assert np.median(distinct) > 2 * len(np.unique(clip[:, 0, 0]))  # shoulders keep highlights apart
    zero = make_cfg(degrade_curve='camera', degrade_exposure=(0.0, 0.0), degrade_white_balance=0.0,
                    degrade_gamma=1.0, degrade_contrast=0.0, degrade_saturation=0.0)
    levels = np.tile(np.arange(256, dtype=np.float32)[None, :, None, None] / 255, (50, 1, 4, 3))
    assert np.array_equal(data.Degradation(zero, paired=False)(levels, rng), levels)
    with pytest.raises(data.DataError, match="degrade_curve"):
        data.Degradation(make_cfg(degrade_curve='film'), paired=False)
