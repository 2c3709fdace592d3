"""atomic.py and the writers built on it: a failure at any point (an error, Ctrl-C) leaves the old
file and no temporary; a killed run's temporaries are cleared later, a live run's are not."""
import json
import os
import stat
import time
import types

import numpy as np
import pytest
import tensorflow as tf

import atomic
import configurator
import net
from replay_memory import ReplayMemory


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_replaces_the_file_with_the_usual_permissions(tmp_path):
    target = tmp_path / 'a.txt'
    target.write_text('old')
    with atomic.atomic_write(target, 'w', encoding='utf-8') as f:
        f.write('new')
        assert target.read_text() == 'old'          # nothing visible before the block ends
    assert target.read_text() == 'new' and names(tmp_path) == ['a.txt']
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~mask     # not mkstemp's 0600


@pytest.mark.parametrize('failure', [OSError, KeyboardInterrupt])
def test_atomic_write_failure_keeps_the_old_file_and_no_temporary(tmp_path, failure):
    target = tmp_path / 'a.bin'
    target.write_bytes(b'old')
    with pytest.raises(failure):
        with atomic.atomic_write(target) as f:
            f.write(b'half')
            raise failure()
    assert target.read_bytes() == b'old' and names(tmp_path) == ['a.bin']


def test_atomic_write_refuses_other_modes(tmp_path):
    with pytest.raises(ValueError, match="use 'w' or 'wb'"):
        with atomic.atomic_write(tmp_path / 'a', 'a'):
            pass


def test_publish_renames_in_order_and_removes_the_set_on_failure(tmp_path, monkeypatch):
    targets = [tmp_path / 'part.json', tmp_path / 'whole.png']
    with atomic.publish(targets) as temporaries:
        assert [os.path.dirname(t) for t in temporaries] == [str(tmp_path)] * 2
        assert [os.path.basename(t)[:5] for t in temporaries] == ['.tmp-'] * 2
        assert [os.path.splitext(t)[1] for t in temporaries] == ['.json', '.png']
        for t in temporaries:
            open(t, 'w').write('x')
    assert names(tmp_path) == ['part.json', 'whole.png']

    order = []
    real_replace = os.replace

    def failing_second(src, dst):
        order.append(os.path.basename(dst))
        if len(order) == 2:
            raise OSError(28, 'No space left on device')
        real_replace(src, dst)
    monkeypatch.setattr(os, 'replace', failing_second)
    other = tmp_path / 'other'
    other.mkdir()
    with pytest.raises(OSError):
        with atomic.publish([other / 'first', other / 'last']) as temporaries:
            for t in temporaries:
                open(t, 'w').write('x')
    assert order == ['first', 'last'] and names(other) == []     # all or nothing


def test_remove_stale_temporaries_spares_live_ones_and_other_files(tmp_path):
    old = time.time() - 2 * atomic.STALE_SECONDS
    stale_file = tmp_path / '.tmp-0123456789abcdef.png'
    stale_folder = tmp_path / '.tmp-fedcba9876543210'
    live = tmp_path / '.tmp-00000000000000ff.npz'
    keep = tmp_path / 'photo.png'
    stale_folder.mkdir()
    (stale_folder / 'inside.jpg').write_bytes(b'x')
    for path in (stale_file, live, keep):
        path.write_bytes(b'x')
    for path in (stale_file, stale_folder, keep):
        os.utime(path, (old, old))
    removed = atomic.remove_stale_temporaries(tmp_path)
    assert sorted(map(os.path.basename, removed)) == [stale_file.name, stale_folder.name]
    assert names(tmp_path) == [live.name, keep.name]
    assert atomic.remove_stale_temporaries(tmp_path / 'missing') == []


# ----------------------------------------------------------------------------------------------
# The writers: a failure injected mid-write leaves the old file (if any) and no temporary


def test_write_json_failure_mid_write(tmp_path):
    target = tmp_path / 'config.json'
    atomic.write_json(str(target), {'a': 1})
    with pytest.raises(TypeError):
        atomic.write_json(str(target), {'b': 2, 'c': object()})      # fails after writing '{"b": 2'
    assert json.loads(target.read_text()) == {'a': 1} and names(tmp_path) == ['config.json']


def test_replay_memory_save_failure_mid_write(tmp_path, monkeypatch):
    cfg = types.SimpleNamespace(replay_memory_size=8, batch_size=4, source_img_size=4, num_state_dim=11,
                                maximum_trajectory_length=7, over_length_keep_prob=0.5, test_steps=5, seed=0)
    memory = ReplayMemory(cfg, types.SimpleNamespace(next_batch=lambda n: np.zeros((n, 4, 4, 3), np.float32)))
    target = tmp_path / 'replay_memory.npz'

    def interrupted(file, **arrays):
        (open(file, 'wb') if isinstance(file, str) else file).write(b'PK\x03\x04 half an archive')
        raise KeyboardInterrupt
    monkeypatch.setattr(np, 'savez', interrupted)
    with pytest.raises(KeyboardInterrupt):
        memory.save(str(target))
    assert names(tmp_path) == []
    monkeypatch.undo()
    memory.save(str(target))
    assert names(tmp_path) == ['replay_memory.npz'] and memory.load(str(target))


def test_save_actor_failure_mid_write(tmp_path, monkeypatch):
    gan = net.GAN(configurator.load_config('example', ['--seed=0']))
    write = tf.train.Checkpoint.write

    def interrupted(self, prefix, **kwargs):
        write(self, prefix, **kwargs)        # both files written, then Ctrl-C before they are renamed
        raise KeyboardInterrupt
    monkeypatch.setattr(tf.train.Checkpoint, 'write', interrupted)
    with pytest.raises(KeyboardInterrupt):
        gan.save_actor(str(tmp_path / 'actor'))
    assert names(tmp_path) == []
    monkeypatch.undo()
    gan.save_actor(str(tmp_path / 'actor'))
    assert names(tmp_path) == ['actor.data-00000-of-00001', 'actor.index']
