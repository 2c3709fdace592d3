"""Test set-up: the project root on sys.path, quiet TensorFlow, the optional shared data, and running
as an ordinary user where permissions are tested."""
import contextlib
import os
import sys
import tempfile

import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Real photos for optional tests (absent on a user's fresh clone: those tests skip).
SHARED_DATA = os.path.join(ROOT, '..', 'shared', 'data')

# mixed_precision='auto' (the default) measures this machine; the suite runs float32 everywhere so
# its tolerances hold on any CPU. Tests of 'auto' itself set or clear this.
os.environ.setdefault('EXPOSURE_PRECISION', 'float32')
# Likewise train.py times two ways of computing each convolution gradient and keeps the faster; the
# suite fixes one so that runs compare exactly (tests of the choice itself clear this).
os.environ.setdefault('EXPOSURE_CONV_GRADIENTS', 'forward')


@contextlib.contextmanager
def without_root():
    """Root may read and write anywhere: as root, run the block as user nobody, as an ordinary user would."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def open_folder(monkeypatch):
    """A new folder of /tmp that anyone may use, made the working directory: user nobody cannot reach
    pytest's own folders (root's alone), so tests run without_root work below this one."""
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o777)
        monkeypatch.chdir(top)
        yield top


@contextlib.contextmanager
def unsearchable(folder):
    """Within it, `folder` may be listed but not searched (no x permission): the names in it are found,
    nothing in it can be opened; run the code under test without_root."""
    os.chmod(folder, 0o644)
    try:
        yield
    finally:
        os.chmod(folder, 0o755)
