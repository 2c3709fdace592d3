"""Atomic writes: the one way every file of the project is put in place.

A file is written under a hidden temporary name in its target's folder (a rename is atomic only
within one file system), then renamed over the target: a reader sees the old file or the new one,
never half of one. Any failure, Ctrl-C included, removes what was written. A run killed outright
(kill -9, power loss) cannot clean up: remove_stale_temporaries clears its leftovers later.
"""
import contextlib
import json
import os
import secrets
import shutil
import time

PREFIX = '.tmp-'
# A temporary older than this (since its last change) is a killed run's: a live writer's is
# younger, as no writer of the project pauses this long between writes to its temporary.
STALE_SECONDS = 60


def temporary_path(folder, suffix=''):
    """An unused hidden name in `folder` (.tmp-<random><suffix>) to write a file under.

    Unlike tempfile.mkstemp, which creates files readable by their owner only (0600), the caller
    creates the file itself, so it gets the usual permissions (0666 less the umask).
    """
    return os.path.join(folder, f'{PREFIX}{secrets.token_hex(8)}{suffix}')


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


@contextlib.contextmanager
def publish(targets, temporaries=None):
    """Writes a set of files so that it appears whole or not at all.

    Yields one temporary path per target: by default a temporary_path in the target's folder with the
    target's extension; or the given ones, for a writer that names its files itself (a TensorFlow
    checkpoint's data and index). The caller writes them; when its block ends they are renamed over
    their targets in the given order, so put the file whose presence marks the set complete last.
    On any failure the temporaries and the targets already renamed are removed.
    """
    targets = [os.fspath(t) for t in targets]
    if temporaries is None:
        temporaries = [temporary_path(os.path.dirname(os.path.abspath(t)), os.path.splitext(t)[1])
                       for t in targets]
    placed = []
    try:
        yield list(temporaries)
        for tmp, target in zip(temporaries, targets):
            os.replace(tmp, target)
            placed.append(target)
    except BaseException:
        for path in list(temporaries) + placed:
            _remove(path)
        raise


@contextlib.contextmanager
def atomic_write(path, mode='wb', **open_kwargs):
    """Yields a file object for `path` (mode 'w' or 'wb', open's keyword arguments), written under a
    temporary name and renamed into place when the block ends without an error."""
    if mode not in ('w', 'wb'):
        raise ValueError(f"atomic_write: mode {mode!r}; use 'w' or 'wb'")
    with publish([path]) as (tmp,):
        # 'x': never write into a file that is there already, however unlikely its random name.
        with open(tmp, mode.replace('w', 'x'), **open_kwargs) as f:
            yield f


def write_json(path, obj):
    """Writes obj as indented JSON atomically."""
    with atomic_write(path, 'w') as f:
        json.dump(obj, f, indent=1)


def remove_stale_temporaries(folder, min_age=STALE_SECONDS):
    """Deletes the temporaries (.tmp-* files or folders) that a killed run left in `folder`: those
    unchanged for `min_age` seconds, so a concurrent run's live temporaries stay. Returns their paths."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:         # no folder (yet), or not readable: nothing of ours to clear
        return removed
    now = time.time()
    for name in names:
        path = os.path.join(folder, name)
        try:
            if name.startswith(PREFIX) and now - os.lstat(path).st_mtime >= min_age:
                _remove(path)
                removed.append(path)
        except OSError:     # gone meanwhile (its run finished), or not ours to delete
            pass
    return removed
