"""bench/fixed_edit.py: one fitted edit for every frame, with --per-frame each frame's own edit (the
white-box ceiling), and with --linear edits that are a linear function of each frame's statistics, on
tiny frames whose targets differ by a per-frame exposure."""
import importlib.util
import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

import configurator

spec = importlib.util.spec_from_file_location('fixed_edit', os.path.join(configurator.PROJECT_DIR, 'bench', 'fixed_edit.py'))
fixed_edit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixed_edit)

GAINS = (0.6, 1.3, 1.7, 2.2)   # each frame's own exposure: no single edit fits them all


def frame(seed, size=64):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([x, y, 1.0 - x], axis=-1) * rng.uniform(0.2, 0.45, 3)
    return np.clip(base + rng.normal(0, 0.02, (size, size, 3)), 0, 1).astype(np.float32)


def psnr(a, b):
    return float(-10 * np.log10(np.mean((np.clip(a, 0, 1) - b) ** 2)))


def test_per_frame_fit_reaches_each_target_and_a_shared_fit_cannot():
    inputs = np.stack([frame(i, 32) for i in range(len(GAINS))])
    targets = np.clip(inputs * np.array(GAINS, np.float32)[:, None, None, None], 0, 1)
    patches = np.concatenate([inputs, targets], axis=-1)
    cfg = configurator.load_config('sintel', [])
    results = {}
    for per_frame in (False, True):
        chain, raw, _ = fixed_edit.fit(cfg, patches, 150, per_frame=per_frame)
        assert raw[0].shape[0] == (len(GAINS) if per_frame else 1)
        results[per_frame] = psnr(fixed_edit.apply(chain, raw, inputs).numpy(), targets)
    assert results[True] > 35.0
    assert results[False] < results[True] - 10.0


def test_linear_edits_follow_what_the_frame_shows_and_a_fixed_edit_cannot(monkeypatch):
    """Targets brought to one brightness: the gain a frame needs shows in its statistics."""
    monkeypatch.setattr(fixed_edit, 'LINEAR_PENALTIES', (0.0, 1e-2))      # the choice, with half the fits
    rng = np.random.default_rng(5)
    inputs = np.stack([frame(i, 16) * rng.uniform(0.3, 1.5) for i in range(24)]).clip(0, 1)
    means = inputs.mean(axis=(1, 2, 3), keepdims=True)
    targets = np.clip(inputs * 0.3 / means, 0, 1)
    patches = np.repeat(np.concatenate([inputs, targets], axis=-1), 4, axis=0)   # four patches a frame
    cfg = configurator.load_config('sintel', [])
    train, test = patches[:80], patches[80::4]           # 20 frames to fit, 4 new ones
    chain, raw, maps, mean, scale = fixed_edit.fit_linear(cfg, train, 150)
    features = tf.constant((fixed_edit.statistics(test[..., :3]) - mean) / scale, tf.float32)
    linear = fixed_edit.apply(chain, [r + features @ m for r, m in zip(raw, maps)], test[..., :3]).numpy()
    chain, raw, _ = fixed_edit.fit(cfg, train, 150)
    fixed = fixed_edit.apply(chain, raw, test[..., :3]).numpy()
    assert psnr(linear, test[..., 3:]) > psnr(fixed, test[..., 3:]) + 2.5


def test_per_frame_command_scores_the_held_out_frames(tmp_path, capsys):
    for folder in ('in', 'out'):
        (tmp_path / folder).mkdir()
    for i, gain in enumerate(GAINS * 2):
        img = frame(i, 96)
        for folder, value in (('in', img), ('out', np.clip(img * gain, 0, 1))):
            cv2.imwrite(str(tmp_path / folder / f'{i:04d}.png'), np.rint(value[..., ::-1] * 255).astype(np.uint8))
    fixed_edit.main(['sintel', '--per-frame', '--steps', '150', f'--out={tmp_path / "res"}',
                     f'--input_dir={tmp_path / "in"}', f'--target_dir={tmp_path / "out"}',
                     '--val_first=0004.png', '--val_fraction=0.5'])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith('per-frame edits (ceiling) on 4 held-out frames')
    assert float(line.split('PSNR ')[1].split(' dB')[0]) > 30.0
    assert sorted(os.listdir(tmp_path / 'res')) == ['0004.png', '0005.png', '0006.png', '0007.png']


def test_missing_targets_are_named(tmp_path):
    (tmp_path / 'in').mkdir()
    (tmp_path / 'out').mkdir()
    for i in range(4):
        for folder in ('in', 'out')[:1 + (i < 3)]:   # 0003.png, held out, has no target
            cv2.imwrite(str(tmp_path / folder / f'{i:04d}.png'), np.full((80, 80, 3), 100, np.uint8))
    with pytest.raises(SystemExit, match='0003.png'):
        fixed_edit.main(['sintel', '--per-frame', f'--input_dir={tmp_path / "in"}',
                         f'--target_dir={tmp_path / "out"}', '--val_first=None', '--val_fraction=0.5'])
