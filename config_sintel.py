"""Sintel configuration (spec 2.2, 7.6): the same hyper-parameters as config_example, trained on
two folders of frames: flat renders (inputs) and the graded look (targets).

Like the original, both folders are used as display-encoded values (no linearization). Unlike the
original, the last 15% of the sorted frames (a contiguous block by frame number) are held out of
training in both folders, so evaluation can measure generalization on unseen frames.
"""
from config_example import *  # noqa: F401,F403  (identical hyper-parameters, spec 2.2)

input_kind = 'folder'
input_dir = 'data/sintel/inputs'        # `python fetch_fivek.py --sintel` downloads the frames here
input_set = None
input_encoding = 'display'              # 'display' (as stored), 'srgb' (linearize), 'linear', 'prophoto'
target_kind = 'folder'
target_dir = 'data/sintel/outputs'
target_set = None
target_encoding = 'display'
val_fraction = 0.15                     # last 15% of the sorted frames: validation, never trained on
