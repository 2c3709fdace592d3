"""The exposure-correction protocol (bench/exposure_errors.py) on tiny photos: renders, metrics and the
model-free gain baseline, without a model."""
import importlib.util
import json
import os

import numpy as np
import pytest

import configurator
import data
import image_io
import util

spec = importlib.util.spec_from_file_location(
    'exposure_errors', os.path.join(configurator.PROJECT_DIR, 'bench', 'exposure_errors.py'))
exposure_errors = importlib.util.module_from_spec(spec)
spec.loader.exec_module(exposure_errors)


def test_gain_to_mean_reaches_the_target_mean():
    rng = np.random.default_rng(0)
    img = rng.random((20, 30, 3), dtype=np.float32) * 0.2
    out = exposure_errors.gain_to_mean(img)
    assert (out @ np.array(util.LUM_WEIGHTS, np.float32)).mean() == pytest.approx(0.45, abs=1e-3)


def test_metrics_of_identity_and_a_perfect_fixer():
    rng = np.random.default_rng(1)
    originals = {'a': rng.random((8, 8, 3), dtype=np.float32), 'b': rng.random((8, 8, 3), dtype=np.float32)}
    perfect = {(s, ev): img for s, img in originals.items() for ev in exposure_errors.EVS}
    assert exposure_errors.table_row(originals, perfect) == {'fix': 100.0, 'keep': 100.0, 'consistency': 100.0}
    shifted = {(s, ev): np.clip(img + 0.1 * ev, 0, 1) for (s, ev), img in perfect.items()}
    row = exposure_errors.table_row(originals, shifted)
    assert row['keep'] == 100.0 and 10 < row['fix'] < 30 and row['consistency'] < row['fix'] + 10


@pytest.fixture(autouse=True)
def quick_fit(monkeypatch):
    """The filters' ceiling fitted in fewer steps: enough on these tiny photos, and the suite stays quick."""
    monkeypatch.setattr(exposure_errors, 'FILTERS_CEILING_STEPS', 60)


def test_protocol_on_a_folder_without_a_model(tmp_path, capsys):
    rng = np.random.default_rng(2)
    for k in range(2):
        image_io.write_image(tmp_path / 'photos' / f'p{k}.png', rng.random((24, 32, 3), dtype=np.float32))
    exposure_errors.main(['photos', '--photos', str(tmp_path / 'photos'), '--out', str(tmp_path / 'out'),
                          '--sets', 'clip', 'camera'])
    out = capsys.readouterr().out
    sets = json.loads(out.strip().splitlines()[-1])['sets']
    for kind in ('clip', 'camera'):
        scores = sets[kind]['scores']
        assert set(scores) == {'identity', 'clahe', 'grayworld_levels', 'gain_to_mean_0.45',
                               *exposure_errors.CEILINGS, exposure_errors.FILTERS_CEILING}
        assert scores['identity']['keep'] > 45 and scores['identity']['fix'] < scores['identity']['keep']
        assert len(os.listdir(tmp_path / 'out' / kind / 'renders')) == 10
        # A ceiling sees the reference: it beats doing nothing on every band, the curve most of all.
        for band in ('-1.5', '-1.0', '+1.0', '+1.5'):
            gain_gamma = scores['ceiling: gain + gamma fitted to the reference'][band]
            assert scores['identity'][band] < gain_gamma <= scores['ceiling: best global tone curve'][band] + 0.5
            assert scores['identity'][band] + 3 < scores[exposure_errors.FILTERS_CEILING][band]


def test_a_training_step_is_scored_in_its_own_folder(tmp_path, monkeypatch, capsys):
    """--step N asks evaluate.py for that iteration and keeps its corrections apart from other steps'."""
    rng = np.random.default_rng(3)
    image_io.write_image(tmp_path / 'photos' / 'p.png', rng.random((24, 32, 3), dtype=np.float32))
    commands = []

    def fake_evaluate(command, check, stdout):    # writes the renders back as their own corrections
        commands.append(command)
        out = command[command.index('--output-dir') + 1]
        for name in os.listdir(command[4]):
            image_io.write_image(os.path.join(out, name + '.retouched.png'),
                                 image_io.read_image(os.path.join(command[4], name)))
    monkeypatch.setattr(exposure_errors.subprocess, 'run', fake_evaluate)
    for step in (2000, 4000):
        exposure_errors.main(['photos', 'run', '--photos', str(tmp_path / 'photos'), '--out', str(tmp_path / 'out'),
                              '--step', str(step), '--sets', 'clip', 'scene', '--scenes', str(tmp_path / 'none')])
    assert [c[c.index('--step') + 1] for c in commands] == ['2000', '4000']
    assert sorted(os.listdir(tmp_path / 'out' / 'clip')) == ['renders', 'run_step2000_seed0', 'run_step4000_seed0']
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])['sets']['clip']['scores']
    assert scores['model photos/run_step4000 seed 0'] == scores['identity']     # the fake corrects nothing


def test_ceilings_recover_a_global_change_and_scene_renders(tmp_path):
    """The tone-curve ceiling undoes any global monotone map of 8-bit levels exactly; gain + gamma undoes
    a gamma; the scene set renders linear TIFFs with a 0 EV reference whose mean is metered to middle grey."""
    rng = np.random.default_rng(4)
    reference = np.round(rng.random((16, 16, 3), dtype=np.float32) * 255) / 255
    curved = np.round(reference ** 2.0 * 255) / 255
    assert exposure_errors.psnr(exposure_errors.tone_curve_ceiling(reference, curved), curved) == 100.0
    assert exposure_errors.psnr(exposure_errors.gain_gamma_ceiling(reference, reference ** 2.0), reference ** 2.0) > 40
    import tifffile
    scene = (rng.random((40, 60, 3)) * 0.05 * 65535).astype(np.uint16)
    scene[:5, :5] = 65535                                               # a highlight far above the rest
    os.makedirs(tmp_path / 'scenes')
    tifffile.imwrite(tmp_path / 'scenes' / 's.tif', scene)
    refs = exposure_errors.render_all([str(tmp_path / 'scenes' / 's.tif')], str(tmp_path / 'r'), 'scene')
    linear = data.inverse_camera_curve(image_io.srgb_to_linear(refs['s']), **data.VALIDATION_CURVE)
    key = np.exp(np.mean(np.log(linear @ np.array(util.LUM_WEIGHTS, np.float32) + 1e-4)))
    assert key == pytest.approx(0.18, rel=0.05)                        # metered to middle grey
    plus = image_io.read_image(tmp_path / 'r' / 's_ev+1.5.png')
    assert plus.mean() > refs['s'].mean() and len(os.listdir(tmp_path / 'r')) == 5
