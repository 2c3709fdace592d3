"""evaluate.py as a user runs it: a small freshly initialised model saved as a checkpoint, files,
folders and globs, every output, recipes re-applied, bad files skipped, nothing overwritten."""
import json
import os

import cv2
import numpy as np
import pytest
import tifffile

import evaluate
import net
import util


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """A project-like folder with models/sintel/tiny (a saved, untrained checkpoint) and photos."""
    root = tmp_path_factory.mktemp('eval')
    cfg = util.load_config('sintel', ['--seed=0'])
    gan = net.GAN(cfg)
    model_dir = root / 'models' / 'sintel' / 'tiny'
    manager = gan.make_manager(str(model_dir))
    manager.save(checkpoint_number=7)
    with open(model_dir / 'config.json', 'w') as f:
        json.dump(util.config_to_dict(cfg), f)
    photos = root / 'photos'
    photos.mkdir()
    rng = np.random.default_rng(0)
    tifffile.imwrite(photos / 'a.tif', rng.integers(0, 65535, (50, 70, 3), dtype=np.uint16))
    cv2.imwrite(str(photos / 'b.png'), rng.integers(0, 255, (40, 30, 3), dtype=np.uint8))
    cv2.imwrite(str(photos / 'c.jpg'), rng.integers(0, 255, (33, 47, 3), dtype=np.uint8))
    return root


def run(workspace, monkeypatch, argv):
    monkeypatch.chdir(workspace)
    return evaluate.main(argv)


def test_model_writes_all_outputs(workspace, monkeypatch, capsys):
    out = workspace / 'out_all'
    assert run(workspace, monkeypatch, ['sintel', 'tiny', 'photos', '--output-dir', str(out), '--seed', '1']) == 0
    for name in ['a.tif', 'b.png', 'c.jpg']:
        for suffix in ['retouched.png', 'linear.png', 'input_tone_mapped.png', 'steps.png', 'steps.json'] + \
                [f'intermediate{i:02d}.png' for i in range(4)]:
            assert (out / f'{name}.{suffix}').exists(), f'{name}.{suffix}'
    retouched = cv2.imread(str(out / 'a.tif.retouched.png'))
    assert retouched.shape == (50, 70, 3)                                     # full resolution
    recipe = json.load(open(out / 'a.tif.steps.json'))
    assert len(recipe['steps']) == 5
    step = recipe['steps'][0]
    assert set(step) >= {'filter', 'parameters', 'policy', 'statistics_before', 'statistics_after', 'label'}
    assert abs(sum(step['policy'].values()) - 1) < 1e-3 and len(step['policy']) == 8
    assert 'checkpoint at iteration 7' in capsys.readouterr().out


def test_seed_makes_output_repeatable(workspace, monkeypatch):
    outs = []
    for k, seed in enumerate(['3', '3', '4']):
        out = workspace / f'out_seed{k}'
        run(workspace, monkeypatch, ['sintel', 'tiny', 'photos/a.tif', '--output-dir', str(out),
                                     '--seed', seed, '--no-intermediates'])
        outs.append(json.load(open(out / 'a.tif.steps.json'))['steps'])
        assert not (out / 'a.tif.linear.png').exists()                        # --no-intermediates
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]                                                 # dropout stays on


def test_recipe_reapplies_the_same_edits(workspace, monkeypatch):
    first, second = workspace / 'out_r1', workspace / 'out_r2'
    run(workspace, monkeypatch, ['sintel', 'tiny', 'photos/b.png', '--output-dir', str(first), '--seed', '2',
                                 '--format', 'png16'])
    assert run(workspace, monkeypatch, ['--recipe', str(first / 'b.png.steps.json'), 'photos/b.png',
                                        '--output-dir', str(second), '--format', 'png16']) == 0
    a = util.read_image(str(first / 'b.png.retouched.png'))
    b = util.read_image(str(second / 'b.png.retouched.png'))
    assert np.abs(a - b).max() <= 1 / 65535 + 1e-6


def test_glob_pattern_and_tiff16(workspace, monkeypatch):
    out = workspace / 'out_glob'
    assert run(workspace, monkeypatch, ['sintel', 'tiny', 'photos/*.jpg', '--output-dir', str(out),
                                        '--format', 'tiff16', '--no-intermediates']) == 0
    img = tifffile.imread(out / 'c.jpg.retouched.tif')
    assert img.dtype == np.uint16 and img.shape == (33, 47, 3)


def test_bad_files_are_reported_and_skipped(workspace, monkeypatch, capsys):
    bad = workspace / 'bad'
    bad.mkdir()
    (bad / 'corrupt.jpg').write_text('not a jpeg')
    cv2.imwrite(str(bad / 'tiny.png'), np.zeros((1, 1, 3), np.uint8))
    nan = np.full((20, 20, 3), 0.5, np.float32)
    nan[3, 3] = np.nan
    tifffile.imwrite(bad / 'nan.tif', nan, photometric='rgb')
    out = workspace / 'out_bad'
    code = run(workspace, monkeypatch, ['sintel', 'tiny', str(bad), 'photos/c.jpg', 'missing.png',
                                        '--output-dir', str(out), '--no-intermediates'])
    err = capsys.readouterr().err
    assert code == 1
    for name in ['corrupt.jpg', 'tiny.png', 'nan.tif', 'missing.png']:
        assert name in err
    assert (out / 'c.jpg.retouched.png').exists()


def test_refuses_to_overwrite_inputs(workspace, monkeypatch):
    victim = workspace / 'photos' / 'b.png.retouched.png'
    cv2.imwrite(str(victim), np.zeros((20, 20, 3), np.uint8))
    try:
        with pytest.raises(SystemExit, match='overwrite'):
            run(workspace, monkeypatch, ['sintel', 'tiny', 'photos/b.png', 'photos/b.png.retouched.png',
                                         '--output-dir', 'photos'])
    finally:
        victim.unlink()


def test_missing_model_lists_what_exists(workspace, monkeypatch):
    with pytest.raises(SystemExit, match='tiny.*train.py'):
        run(workspace, monkeypatch, ['sintel', 'nothere', 'photos/a.tif'])
    with pytest.raises(SystemExit, match='available|Available'):
        run(workspace, monkeypatch, ['sintel', 'tiny', 'photos/a.tif', '--step', '99'])
