"""The exposure-correction protocol (bench/exposure_errors.py) on tiny photos: renders, metrics and the
model-free gain baseline, without a model."""
import importlib.util
import json
import os

import numpy as np
import pytest

import image_io
import util

spec = importlib.util.spec_from_file_location(
    'exposure_errors', os.path.join(util.PROJECT_DIR, 'bench', 'exposure_errors.py'))
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


def test_protocol_on_a_folder_without_a_model(tmp_path, capsys):
    rng = np.random.default_rng(2)
    for k in range(2):
        image_io.write_image(tmp_path / 'photos' / f'p{k}.png', rng.random((24, 32, 3), dtype=np.float32))
    exposure_errors.main(['photos', '--photos', str(tmp_path / 'photos'), '--out', str(tmp_path / 'out')])
    out = capsys.readouterr().out
    scores = json.loads(out.strip().splitlines()[-1])['scores']
    assert set(scores) == {'identity', 'clahe', 'grayworld_levels', 'gain_to_mean_0.45'}
    assert scores['identity']['keep'] > 45 and scores['identity']['fix'] < scores['identity']['keep']
    assert len(os.listdir(tmp_path / 'out' / 'renders')) == 10


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
                              '--step', str(step)])
    assert [c[c.index('--step') + 1] for c in commands] == ['2000', '4000']
    assert sorted(os.listdir(tmp_path / 'out')) == ['renders', 'run_step2000_seed0', 'run_step4000_seed0']
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])['scores']
    assert scores['model photos/run_step4000 seed 0'] == scores['identity']     # the fake corrects nothing
