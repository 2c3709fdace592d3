"""Model folders stay what they are: a model name never reaches outside models/<config>/ (train.py,
--export, evaluate.py), a failed start removes only what it made, two runs never share a folder, and
damaged or missing run files, an unwritable folder or an early Ctrl-C are one clear line, with
nothing half-written. Every case builds its own folders in a temporary directory; nothing trains.
"""
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

import configurator
import data
import evaluate
import model_folder
import train
from conftest import ROOT, unsearchable, without_root


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working directory holding a shipped-looking model (models/photos/pretrained) and an empty
    input folder; train() itself is replaced by one that only records that it ran."""
    monkeypatch.chdir(tmp_path)
    shipped = tmp_path / 'models' / 'photos' / 'pretrained'
    shipped.mkdir(parents=True)
    (shipped / 'actor.index').write_bytes(b'weights')
    (tmp_path / 'empty').mkdir()
    runs = []
    monkeypatch.setattr(train, 'train', lambda cfg, model_dir: runs.append(model_dir) or 0)
    return runs


def fails_on_no_images(cfg, model_dir):
    raise SystemExit('error: no images')


# ----------------------------------------------------------------------------------------------
# Model names

BAD_NAMES = ['', ' ', '..', 'newdir/..', '.', 'a/./..', '../photos', '../../x', '/tmp/abs', 'a/../../b']


@pytest.mark.parametrize('name', BAD_NAMES)
def test_model_names_outside_the_config_folder_are_refused(project, monkeypatch, capsys, name):
    # `train.py photos newdir/..` with a start that failed deleted models/photos/ and the shipped model.
    monkeypatch.setattr(train, 'train', fails_on_no_images)
    assert train.main(['photos', name, '--input_dir=empty', '--target_dir=empty']) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: model name {name!r} ") and err.count('\n') == 1
    assert 'a model is a folder inside models/photos/' in err
    assert open(os.path.join('models', 'photos', 'pretrained', 'actor.index'), 'rb').read() == b'weights'
    assert sorted(os.listdir('models')) == ['photos'] and os.listdir(os.path.join('models', 'photos')) == ['pretrained']


def test_a_model_name_linked_out_of_the_folder_is_refused(project, tmp_path, capsys):
    (tmp_path / 'elsewhere').mkdir()
    os.symlink(tmp_path / 'elsewhere', os.path.join('models', 'photos', 'link'))
    assert train.main(['photos', 'link']) == 2
    assert f"resolves to {tmp_path / 'elsewhere'}, outside models/photos/" in capsys.readouterr().err
    assert os.listdir(tmp_path / 'elsewhere') == []


def test_good_model_names(project):
    for name in ('mine', 'runs/a', 'mine/', './b', 'a/./c', 'x..y'):
        assert train.main(['photos', name, '--max_iter_step=3']) == 0
    assert project == [os.path.join('models', 'photos', p) for p in ('mine', 'runs/a', 'mine', 'b', 'a/c', 'x..y')]


def test_export_refuses_a_bad_model_name(project, capsys):
    assert train.main(['photos', '../photos/pretrained', '--export', 'out']) == 2
    assert capsys.readouterr().err.startswith("error: model name '../photos/pretrained' goes up with '..'")
    assert not os.path.exists('out')


def test_evaluate_refuses_a_bad_model_name_without_listing_other_folders(tmp_path, monkeypatch, capsys):
    # A missing model named with ../ listed the contents of whatever folder the name reached.
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'private').mkdir()
    (tmp_path / 'private' / 'do-not-list-me').write_text('')
    assert evaluate.main(['sintel', '../../private/nothing', 'photo.jpg']) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model name '../../private/nothing' goes up with '..'") and err.count('\n') == 1
    assert 'do-not-list-me' not in err


def test_failed_start_removes_only_the_folders_it_made(project, monkeypatch):
    monkeypatch.setattr(train, 'train', fails_on_no_images)
    with pytest.raises(SystemExit, match='no images'):
        train.main(['sintel', 'runs/fresh', '--input_dir=empty'])
    assert not os.path.exists(os.path.join('models', 'sintel'))      # made by this start: gone again
    with pytest.raises(SystemExit, match='no images'):
        train.main(['photos', 'fresh', '--input_dir=empty'])
    assert os.listdir(os.path.join('models', 'photos')) == ['pretrained']
    # The clean-up compares resolved paths: given a folder that resolves elsewhere than the one it
    # made, it leaves that folder alone.
    os.mkdir(os.path.join('models', 'photos', 'newdir'))
    made = [os.path.realpath(os.path.join('models', 'photos', 'newdir'))]
    train.undo_failed_start(os.path.join('models', 'photos', 'newdir', '..'), made,
                            train.read_start_files(os.path.join('models', 'photos')))
    assert os.listdir(os.path.join('models', 'photos')) == ['pretrained']


# ----------------------------------------------------------------------------------------------
# One run per model folder

def test_a_second_run_on_a_model_is_refused_naming_the_first(project, tmp_path):
    model = os.path.join('models', 'sintel', 'busy')
    os.makedirs(model)
    first = subprocess.Popen(
        [sys.executable, '-c', 'import sys, train; lock = train.lock_model(sys.argv[1]); print("locked", '
         'flush=True); sys.stdin.read()', model],
        cwd=tmp_path, env={**os.environ, 'PYTHONPATH': ROOT}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline() == 'locked\n'
        with pytest.raises(SystemExit) as e:
            train.main(['sintel', 'busy', '--max_iter_step=3'])
        assert str(e.value).startswith(f"error: {model} is being trained by another run (process {first.pid} on ")
        assert 'wait for it to end or stop it, or train under another model name' in str(e.value)
        assert project == [] and not os.path.exists(os.path.join(model, 'config.json'))
    finally:
        first.kill()          # as by kill -9: no chance to clean up
        first.wait()
    # The OS released the killed run's lock: the next run starts, and releases it when it ends.
    assert train.main(['sintel', 'busy', '--max_iter_step=3']) == 0
    assert project == [model]
    train.lock_model(model).close()


def test_the_lock_is_released_when_a_start_fails(project, monkeypatch):
    monkeypatch.setattr(train, 'train', fails_on_no_images)
    os.makedirs(os.path.join('models', 'sintel', 'kept'))
    with pytest.raises(SystemExit, match='no images'):
        train.main(['sintel', 'kept'])
    train.lock_model(os.path.join('models', 'sintel', 'kept')).close()


# ----------------------------------------------------------------------------------------------
# Damaged or missing run files, an unwritable folder

def started(name, *overrides):
    """A model folder as a first start leaves it (config.json, commands.txt), without training."""
    assert train.main(['sintel', name] + list(overrides)) == 0
    return os.path.join('models', 'sintel', name)


def edit_config(model, **values):
    path = os.path.join(model, 'config.json')
    json.dump({**json.load(open(path)), **values}, open(path, 'w'))


def test_resume_refuses_a_config_json_that_is_not_json(project):
    model = started('cut', '--batch_size=4')
    path = os.path.join(model, 'config.json')
    damaged = open(path, 'rb').read()[:40]
    open(path, 'wb').write(damaged)
    with pytest.raises(SystemExit) as e:
        train.main(['sintel', 'cut'])
    assert str(e.value).startswith(f"error: cannot resume {model}: {path} is damaged (not JSON: ")
    assert f"copy it again from where the model came from; or, to start this model again from " \
           f"iteration 0, move {model} aside" in str(e.value)
    assert open(path, 'rb').read() == damaged and len(project) == 1


def test_resume_names_a_wrong_type_in_config_json_not_the_valid_override(project):
    model = started('typed', '--max_iter_step=7')
    edit_config(model, max_iter_step='7')
    with pytest.raises(SystemExit) as e:
        train.main(['sintel', 'typed', '--max_iter_step=9'])
    message = str(e.value)
    assert message.startswith(f"error: cannot resume {model}: {model}/config.json is damaged: max_iter_step "
                              "must be int (config value 20000), not '7'; correct it")
    assert 'override' not in message
    edit_config(model, max_iter_step=7, filters=['ExposureFilter', 'NoSuchFilter'])
    with pytest.raises(SystemExit, match="config.json is damaged: unknown filter 'NoSuchFilter'"):
        train.main(['sintel', 'typed'])


def test_resume_refuses_checkpoints_without_their_config_json(project):
    # It resumed on config_sintel.py's defaults: a run trained with batches of 4 went on with 64.
    model = started('lost', '--batch_size=4')
    open(os.path.join(model, 'model.ckpt-3.index'), 'wb').close()
    os.remove(os.path.join(model, 'config.json'))
    with pytest.raises(SystemExit) as e:
        train.main(['sintel', 'lost'])
    assert str(e.value).startswith(f"error: cannot resume {model}: its checkpoints have no {model}/config.json "
                                   "(the settings they were trained with); copy it back")
    assert not os.path.exists(os.path.join(model, 'config.json')) and len(project) == 1


def test_a_model_folder_that_is_not_writable_is_refused_before_any_work(project, tmp_path):
    model = started('readonly', '--max_iter_step=7')
    config = open(os.path.join(model, 'config.json'), 'rb').read()
    os.chmod(tmp_path, 0o755)
    os.chmod(model, 0o555)
    os.chmod(os.path.join('models', 'sintel'), 0o555)
    try:
        with without_root():
            for name in ('readonly', 'new'):
                with pytest.raises(SystemExit) as e:
                    train.main(['sintel', name, '--max_iter_step=9'])
                assert str(e.value).startswith(f"error: cannot write in models/sintel/{name} (Permission denied: ")
    finally:
        os.chmod(model, 0o755)
        os.chmod(os.path.join('models', 'sintel'), 0o755)
    assert open(os.path.join(model, 'config.json'), 'rb').read() == config and len(project) == 1


def test_export_to_a_file_is_refused(project):
    model = started('done')
    open('a_file', 'w').write('keep me')
    for target, message in (('a_file', 'a file, not a folder'), (model, "that is the model's own folder")):
        with pytest.raises(SystemExit, match=f"error: --export {target}: {message}"):
            train.main(['sintel', 'done', '--export', target])
    assert open('a_file').read() == 'keep me'


# ----------------------------------------------------------------------------------------------
# Ctrl-C before training began

@pytest.mark.parametrize('where', ['config', 'data'])
def test_ctrl_c_before_training_began_leaves_nothing(project, monkeypatch, capsys, where):
    def interrupted(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(*(train, 'check_counts', interrupted) if where == 'config' else (train, 'train', interrupted))
    assert train.main(['sintel', 'early', '--max_iter_step=7']) == 130
    assert capsys.readouterr().err == '\ninterrupted before training began; nothing was saved\n'
    assert not os.path.exists(os.path.join('models', 'sintel'))


@pytest.mark.skipif(not os.path.exists('/proc/self/maps'), reason='watches the process through /proc')
@pytest.mark.parametrize('stop', [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_in_the_first_seconds_of_a_real_run(tmp_path, stop):
    """The real command, stopped (Ctrl-C, or `kill` as Slurm sends) while it imports TensorFlow: no
    traceback, no model folder."""
    env = {**os.environ, 'PYTHONPATH': ROOT}
    run = subprocess.Popen([sys.executable, os.path.join(ROOT, 'train.py'), 'sintel', 'early'], cwd=tmp_path,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while 'tensorflow' not in open(f'/proc/{run.pid}/maps').read() and time.time() < deadline:
        time.sleep(0.02)
    run.send_signal(stop)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130 and 'Traceback' not in err
    assert err.endswith('interrupted before training began; nothing was saved\n')
    assert not os.path.exists(tmp_path / 'models')


# ----------------------------------------------------------------------------------------------
# The photos config's data errors

def test_photo_config_data_errors_suggest_fixes_that_fit_it(tmp_path):
    for role, overrides in (('input', []), ('target', ['--reward=critic'])):
        cfg = configurator.load_config('photos', [f'--{role}_dir={tmp_path / "nowhere"}'] + overrides)
        with pytest.raises(data.DataError) as e:
            data.make_provider(cfg, role, 'train')
        assert 'folder not found' in str(e.value) and f'--{role}_dir=PATH' in str(e.value)
        assert 'fetch_fivek' not in str(e.value)
    assert 'well-exposed photos' in str(data._no_data('x', 'input', 'synthetic', 'folder not found'))


def test_a_training_folder_behind_a_folder_without_search_permission_is_said_to_be_so(open_folder):
    """os.path.isdir says False for it, as for a missing folder: the cause is named instead."""
    os.makedirs('locked/good')
    cfg = configurator.load_config('photos', ['--input_dir=locked/good'])
    with unsearchable('locked'), without_root(), pytest.raises(data.DataError) as e:
        data.make_provider(cfg, 'input', 'train')
    assert str(e.value) == ('locked/good: permission denied: the folder locked is not searchable (no x permission), '
                            'so nothing in it can be opened: make it searchable (chmod +x locked), or move the '
                            'files out of it')


# ----------------------------------------------------------------------------------------------
# evaluate.py on damaged model files

@pytest.mark.parametrize('damage, message', [
    (lambda text: text[:len(text) // 2], 'is damaged (not JSON: '),
    (lambda text: text.replace('"GammaFilter"', '"FancyFilter"'), "is damaged: unknown filter 'FancyFilter'"),
    (lambda text: text.replace('"base_channels": 32', '"base_channels": "32"'), 'is damaged: base_channels must be int'),
])
def test_evaluate_names_a_damaged_config_json(project, capsys, damage, message):
    model = started('dmg')
    path = os.path.join(model, 'config.json')
    text = open(path).read()
    assert damage(text) != text
    open(path, 'w').write(damage(text))
    cv2.imwrite('photo.jpg', np.full((16, 16, 3), 128, np.uint8))
    assert evaluate.main(['sintel', 'dmg', 'photo.jpg', '--output-dir', 'out']) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'error: {path} {message}') and err.count('\n') == 1


@pytest.mark.parametrize('content', [b'{"encoding": "srgb", "brightn', b'[1, 2]', b'{"encoding": "srgb"}',
                                     b'{"encoding": "srgb", "brightness": [0.1], "contrast": "ab", "saturation": 1}'])
def test_evaluate_names_a_damaged_input_domain(tmp_path, content):
    (tmp_path / 'input_domain.json').write_bytes(content)
    with pytest.raises(model_folder.ModelError, match=f"{tmp_path / 'input_domain.json'} is damaged; copy it again"):
        model_folder.read_domain(str(tmp_path))
