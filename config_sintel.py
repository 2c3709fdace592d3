"""Sintel configuration (spec 2.2, 7.6): the same hyper-parameters as config_example, trained on
two folders of frames: flat renders (inputs) and the graded look (targets).

Like the original, both folders are used as display-encoded values (no linearization). Unlike the
original, 15% of the sorted frames (a contiguous block by frame number) are held out of training
in both folders, so evaluation can measure generalization on unseen frames.

The block starts at 0345.jpg (85 frames: 0345-0399 and 0480-0509). It was chosen from data
statistics alone, before training: of all 85-frame blocks without blank (all-black) frames, it is the
one whose per-frame mean brightness, of inputs and of targets, is distributed most like the rest
(smallest two-sample Kolmogorov-Smirnov distance; `python bench/val_block.py` repeats the choice).
The film's last block (0575-0659, the previous choice) is a night/cave sequence 10x darker than the
rest; holding it out tested a domain the agent never saw rather than held-out frames of the same film.
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
val_fraction = 0.15                     # 15% of the frames (85): validation, never trained on
val_first = '0345.jpg'                  # ... the block 0345.jpg-0509.jpg (see above)
actor_snapshot_interval = 2000          # the held-out score curve of the model card (24.5 MB each)
