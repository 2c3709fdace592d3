"""End to end: a short training run on a tiny synthetic folder dataset writes every artefact, and
running the same command again resumes from the checkpoint at the right iteration."""
import glob
import importlib.util
import json
import os
import re
import signal

import cv2
import numpy as np
import pytest

import configurator
import layers
import train

TINY = ['--batch_size=4', '--replay_memory_size=16', '--num_samples=4', '--warmup_giters=30',
        '--citers=2', '--citers_initial=4', '--critic_initialization=1', '--write_image_interval=2',
        '--checkpoint_interval=2', '--summary_freq=1', '--val_fraction=0.25', '--seed=1']


def load_bench(name):
    """A script of bench/ as a module."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(configurator.PROJECT_DIR, 'bench', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_folder(path, n, brightness, rng):
    os.makedirs(path)
    for k in range(n):
        img = (rng.uniform(0, 1, (90, 120, 3)) * brightness * 255).astype(np.uint8)
        cv2.imwrite(os.path.join(path, f'{k:04d}.jpg'), img)


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    make_folder(tmp_path / 'inputs', 8, 0.3, rng)
    make_folder(tmp_path / 'targets', 8, 1.0, rng)
    monkeypatch.chdir(tmp_path)
    # config_sintel's val_first names a Sintel frame; these folders hold out their last files.
    return [f'--input_dir={tmp_path / "inputs"}', f'--target_dir={tmp_path / "targets"}',
            '--val_first=None']


def test_train_writes_artefacts_resumes_and_exports(tiny_data, capsys, monkeypatch):
    # Unforced, training times both ways of each convolution gradient at its shapes and logs the choice.
    monkeypatch.delenv('EXPOSURE_CONV_GRADIENTS', raising=False)
    monkeypatch.setattr(layers, 'GRADIENT_KERNELS', {})
    assert train.main(['sintel', 'tiny', '--max_iter_step=3'] + TINY + tiny_data) == 0
    model = os.path.join('models', 'sintel', 'tiny')
    out = capsys.readouterr().out
    assert re.search(r'^convolution gradients, the faster way at each shape .*: 3->\d+ at \d+x\d+ input '
                     r'(forward|tensorflow) \(', out, re.M)
    assert len(layers.GRADIENT_KERNELS) == 8
    assert 'starting a new model' in out and 'it      3/3' in out and 'it/s' in out and 'ETA' in out
    # A long run spans sittings and machines: each start says which machine and when, each end how long.
    assert re.search(r'^== sintel/tiny on CPU \(.+\), \d+ threads; started \d{4}-\d\d-\d\d \d\d:\d\d UTC$', out, re.M)
    assert 'done: iterations 0..3 in ' in out
    assert os.path.exists(os.path.join(model, 'checkpoint'))
    assert glob.glob(os.path.join(model, 'model.ckpt-4.index'))                  # final save at T + 1
    assert glob.glob(os.path.join(model, 'events.out.tfevents.*'))
    assert os.path.exists(os.path.join(model, 'images', '000000.png'))
    assert os.path.exists(os.path.join(model, 'images', '000002.png'))
    figure = cv2.imread(os.path.join(model, 'images', '000000.png'))
    assert figure.shape[1] == 3 * 8 * 68 + 32
    log = open(os.path.join(model, 'log.txt')).read()
    assert 'it      3/3' in log
    cfg = json.load(open(os.path.join(model, 'config.json')))
    assert cfg['max_iter_step'] == 3 and cfg['batch_size'] == 4 and cfg['filters'][0] == 'ExposureFilter'

    # The same command with a longer schedule resumes where the last run ended.
    assert train.main(['sintel', 'tiny', '--max_iter_step=5'] + TINY + tiny_data) == 0
    out = capsys.readouterr().out
    assert 'resuming at iteration 4' in out and 'it      5/5' in out and 'done: iterations 4..5 in ' in out
    assert 'it      0/' not in out
    assert json.load(open(os.path.join(model, 'config.json')))['max_iter_step'] == 5

    # --export writes the compact actor that ships: weights only, float32 or (--half) float16.
    assert train.main(['sintel', 'tiny', '--export', 'models/sintel/shipped']) == 0
    files = sorted(os.listdir(os.path.join('models', 'sintel', 'shipped')))
    assert files == ['actor.data-00000-of-00001', 'actor.index', 'config.json', 'input_domain.json']
    size = os.path.getsize(os.path.join('models', 'sintel', 'shipped', 'actor.data-00000-of-00001'))
    assert size < 6_123_680 * 4 * 1.01                       # the actor's weights only, no Adam slots
    assert 'exported the actor' in capsys.readouterr().out
    assert train.main(['sintel', 'tiny', '--export', 'models/sintel/half', '--half']) == 0
    half = os.path.getsize(os.path.join('models', 'sintel', 'half', 'actor.data-00000-of-00001'))
    assert half < 0.51 * size
    with pytest.raises(SystemExit):
        train.main(['sintel', 'tiny', '--half'])        # --half only means something with --export


def cut_short(path):
    """A file cut off halfway, as by an interrupted copy."""
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def test_damaged_run_files_are_named_with_the_fix(tiny_data, capsys):
    import evaluate
    command = ['sintel', 'dmg', '--max_iter_step=1'] + TINY + tiny_data
    assert train.main(command) == 0
    model = os.path.join('models', 'sintel', 'dmg')
    assert train.main(['sintel', 'dmg', '--export', 'models/sintel/dmg_actor']) == 0
    capsys.readouterr()
    # A damaged replay memory is refilled by warm-up rollouts; the networks resume from their checkpoint.
    cut_short(os.path.join(model, 'replay_memory.npz'))
    assert train.main(command[:2] + ['--max_iter_step=2'] + command[3:]) == 0
    captured = capsys.readouterr()
    assert 'replay_memory.npz is damaged' in captured.err and 'warm-up rollouts' in captured.err
    assert 'resuming at iteration 2' in captured.out
    # A damaged checkpoint stops the run before anything is written, naming the file and the fix.
    cut_short(os.path.join(model, 'model.ckpt-3.data-00000-of-00001'))
    with pytest.raises(SystemExit) as e:
        train.main(command[:2] + ['--max_iter_step=4'] + command[3:])
    assert str(e.value).startswith(f'error: cannot resume {model}: {model}/model.ckpt-3: damaged checkpoint (')
    assert 'copy both files again' in str(e.value) and 'move' in str(e.value)
    assert os.path.getsize(os.path.join(model, 'model.ckpt-3.index')) > 0
    # evaluate.py refuses (exit status 2) an actor whose config.json describes other networks...
    actor_config = os.path.join('models', 'sintel', 'dmg_actor', 'config.json')
    saved = json.load(open(actor_config))
    json.dump({**saved, 'base_channels': 16}, open(actor_config, 'w'))
    assert evaluate.main(['sintel', 'dmg_actor', os.path.join('inputs', '0000.jpg')]) == 2
    assert 'its weights do not fit the networks of this config' in capsys.readouterr().err
    json.dump(saved, open(actor_config, 'w'))
    # ...and an exported actor cut short, as one whose index is.
    for damaged in ('actor.data-00000-of-00001', 'actor.index'):
        cut_short(os.path.join('models', 'sintel', 'dmg_actor', damaged))
        assert evaluate.main(['sintel', 'dmg_actor', os.path.join('inputs', '0000.jpg')]) == 2
        err = capsys.readouterr().err
        assert err.startswith('error: cannot load models/sintel/dmg_actor: models/sintel/dmg_actor/actor: '
                              'damaged checkpoint (') and 'copy both files again' in err


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match='fetch_fivek.py --sintel'):
        train.main(['sintel', 'nodata', '--input_dir=' + str(tmp_path / 'data' / 'sintel' / 'inputs')])


def test_bad_override_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match='bad override'):
        train.main(['sintel', 'x', '--no_such_setting=1'])


def test_nan_loss_stops_and_keeps_last_checkpoint(tiny_data, capsys, monkeypatch):
    import net
    original = net.GAN.actor_step
    calls = {'n': 0}

    def diverging(self, *args):
        out = dict(original(self, *args))
        calls['n'] += 1
        if calls["n"] > 32:                # iteration 3: after 30 warm-up rollouts and iterations 1, 2
            out['g_loss'] = float('nan')
        return out

    monkeypatch.setattr(net.GAN, 'actor_step', diverging)
    assert train.main(['sintel', 'nan', '--max_iter_step=10'] + TINY + tiny_data) == 1
    err = capsys.readouterr().err
    assert 'diverged' in err and 'non-finite g_loss' in err and 'model.ckpt-2' in err
    assert sorted(os.listdir(os.path.join('models', 'sintel', 'nan'))).count('model.ckpt-2.index') == 1


def test_checkpoints_by_the_clock_bound_what_a_hard_kill_loses(tiny_data, monkeypatch):
    """A crash that cannot save (like SIGKILL) leaves the checkpoint the clock rule wrote, though the
    iteration rule (every 1000) never fired."""
    import net
    original = net.GAN.actor_step
    calls = {'n': 0}

    def killed(self, *args):
        calls['n'] += 1
        if calls['n'] > 33:                # in iteration 4 (30 warm-up rollouts in iteration 0, then one each)
            raise MemoryError('killed')
        return original(self, *args)

    monkeypatch.setattr(net.GAN, 'actor_step', killed)
    argv = ['sintel', 'hard', '--max_iter_step=10'] + TINY + tiny_data
    with pytest.raises(MemoryError):
        train.main(argv + ['--checkpoint_interval=1000', '--checkpoint_minutes=1e-9'])
    # iterations 0-3 finished, each saved by the clock (only the newest is kept): resume at iteration 4
    assert [f for f in os.listdir(os.path.join('models', 'sintel', 'hard')) if f.endswith('.index')] == [
        'model.ckpt-4.index']


def test_actor_snapshots_are_kept_for_a_score_curve(tiny_data, capsys):
    """Rolling checkpoints keep only the newest; actors/actor-N stay, and evaluate.py --step N reads them."""
    import model_folder
    assert train.main(['sintel', 'curve', '--max_iter_step=4', '--actor_snapshot_interval=2'] + TINY + tiny_data) == 0
    model = os.path.join('models', 'sintel', 'curve')
    assert sorted(os.listdir(os.path.join(model, 'actors'))) == [
        f'actor-{n}.{s}' for n in (2, 4) for s in ('data-00000-of-00001', 'index')]
    assert [f for f in os.listdir(model) if f.endswith('.index')] == ['model.ckpt-5.index']
    early, _, _, source = model_folder.load_model('sintel', 'curve', 2)
    final = model_folder.load_model('sintel', 'curve', None)[0]
    assert source == 'checkpoint at iteration 2'
    assert any((a.numpy() != b.numpy()).any() for a, b in zip(early.actor.variables, final.actor.variables))

    # bench/score_curve.py scores every kept actor and the newest checkpoint on the held-out inputs.
    score_curve = load_bench('score_curve')
    assert score_curve.run_steps(model) == [2, 4, 5]          # the kept actors and the newest checkpoint
    argv = ['sintel', 'curve', '--steps', '2', '--seeds', '0', '--val_fraction=0.25'] + tiny_data
    assert score_curve.main(argv) == 0
    table = capsys.readouterr().out
    assert [line.split('|')[1].strip() for line in table.splitlines() if line.startswith('| 2 ')] == ['2']
    result = os.path.join('outputs', 'score_curve', 'sintel-curve', 'step-2', 'seed-0', 'result.json')
    os.utime(result, (0, 0))
    assert score_curve.main(argv) == 0 and os.path.getmtime(result) == 0      # scored once, then reused
    capsys.readouterr()
    assert score_curve.main(argv + ['--split', 'train']) == 0           # the frames it learned from
    assert 'sintel/curve: 6 training inputs' in capsys.readouterr().out  # 8 frames, a quarter held out
    assert os.path.exists(result.replace('sintel-curve', 'sintel-curve-train'))


@pytest.mark.parametrize('when, call, code, saved', [
    ('during the checkpoint of the first Ctrl-C', 2, 130, 2), ('during a checkpoint on schedule', 1, 130, 2),
    ('during the last checkpoint', 3, 0, 4)])
def test_ctrl_c_while_saving_waits_for_the_checkpoint(tiny_data, capsys, monkeypatch, when, call, code, saved):
    """A real SIGINT while a checkpoint is written does not cut it short: it says the run stops once
    the checkpoint is written, and the run ends as it would have with that checkpoint (iterations 0-3
    save on schedule after iterations 1 and 3, then the last checkpoint, iteration 4)."""
    import net
    from replay_memory import ReplayMemory
    original_c, original_save = net.GAN.critic_steps, ReplayMemory.save
    calls = {'critic': 0, 'save': 0}

    def interrupted(self, *args):       # the first Ctrl-C, in iteration 2
        calls['critic'] += 1
        if calls['critic'] == 4 and call == 2:
            raise KeyboardInterrupt
        return original_c(self, *args)

    def save(self, path):
        calls['save'] += 1
        if calls['save'] == call:
            os.kill(os.getpid(), signal.SIGINT)
        return original_save(self, path)
    monkeypatch.setattr(net.GAN, 'critic_steps', interrupted)
    monkeypatch.setattr(ReplayMemory, 'save', save)
    assert train.main(['sintel', 'held', '--max_iter_step=3'] + TINY + tiny_data) == code
    captured = capsys.readouterr()
    assert f'Ctrl-C while saving the checkpoint of iteration {saved}: stopping once it is done' in captured.err
    assert 'before training began' not in captured.err and 'Traceback' not in captured.err
    if code == 130:
        assert f'interrupted: saved a checkpoint at iteration {saved} in ' in captured.out
    else:
        assert 'done: iterations 0..3' in captured.out
    assert os.path.exists(os.path.join('models', 'sintel', 'held', f'model.ckpt-{saved}.index'))


def test_interrupt_saves_and_resumes_on_the_same_schedule(tiny_data, capsys, monkeypatch):
    """Ctrl-C saves the iteration it reached; the same command resumes there and uses, at every
    iteration, the learning rates of the schedule fixed when the run started (T = max_iter_step is
    kept in config.json)."""
    import net
    seen = []
    original_g, original_c = net.GAN.actor_step, net.GAN.critic_steps

    def recording(self, images, states, noise, lr_g, lr_v, progress, targets=None):
        seen.append((round(progress * self.cfg.max_iter_step), lr_g, lr_v))
        return original_g(self, images, states, noise, lr_g, lr_v, progress, targets)

    calls = {'n': 0}

    def interrupted(self, *args):
        calls['n'] += 1
        if calls['n'] == 4:               # iteration 2: iteration 0 runs 2 chunks of critic updates, 1 runs 1
            raise KeyboardInterrupt
        return original_c(self, *args)

    monkeypatch.setattr(net.GAN, 'actor_step', recording)
    monkeypatch.setattr(net.GAN, 'critic_steps', interrupted)
    command = ['sintel', 'int', '--max_iter_step=6'] + TINY + tiny_data
    assert train.main(command) == 130
    out = capsys.readouterr().out
    assert re.search(r'interrupted: saved a checkpoint at iteration \d+ in \S+ after [\d.]+ min; run the same', out)
    saved = int(out.split('saved a checkpoint at iteration ')[1].split()[0])
    assert os.path.exists(os.path.join('models', 'sintel', 'int', f'model.ckpt-{saved}.index'))
    monkeypatch.setattr(net.GAN, 'critic_steps', original_c)
    assert train.main(command) == 0
    assert f'resuming at iteration {saved}' in capsys.readouterr().out

    # The run's sessions, read back from its log for a model card (bench/run_sessions.py); a third
    # session cut off without a closing line (a machine shut down) is counted from its progress lines.
    log = os.path.join('models', 'sintel', 'int', 'log.txt')
    with open(log, 'a') as f:
        f.write('== sintel/int on CPU (Test CPU with AVX2), 2 threads; started 2026-12-02 10:00 UTC\n'
                'precision: float32 (mixed_precision=False)\nresuming at iteration 7\n'
                'it      7/9     900 ms   1.00 it/s  ETA    0.0 min\n   1.5 min elapsed; replay memory: ...\n'
                'it      8/9     900 ms   1.00 it/s  ETA    0.0 min\n')
    run_sessions = load_bench('run_sessions')
    found = run_sessions.sessions(open(log))
    assert [(s['first'], s['last'], s['end'], s['precision']) for s in found] == [
        (0, saved - 1, 'interrupted', 'float32'), (saved, 6, 'done', 'float32'), (7, 8, 'no closing line', 'float32')]
    assert found[2]['minutes'] == 1.5 and found[2]['machine'] == 'CPU (Test CPU with AVX2), 2 threads'
    assert run_sessions.main([os.path.join('models', 'sintel', 'int')]) == 0
    table = capsys.readouterr().out
    assert '| 3 | 2026-12-02 10:00 UTC | CPU (Test CPU with AVX2), 2 threads | float32 | 7-8 | >= 1.5 | 45.00 |' in table
    assert '3 sessions, iterations 0-8, wall time >= ' in table
    with pytest.raises(SystemExit, match='no training session in this log'):
        run_sessions.main([__file__])

    cfg = configurator.load_config('sintel', ['--max_iter_step=6'])
    after_warm_up = [s for s in seen if s[1] > 0]
    assert {it for it, *_ in after_warm_up} == set(range(1, 7))
    for it, lr_g, lr_v in after_warm_up:
        expected = net.learning_rates(cfg, it)
        assert lr_g == pytest.approx(expected[0], rel=1e-12) and lr_v == pytest.approx(expected[1], rel=1e-12)
