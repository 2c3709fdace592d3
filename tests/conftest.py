"""Test set-up: the project root on sys.path, quiet TensorFlow, and the optional shared data."""
import os
import sys

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
