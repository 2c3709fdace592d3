"""Everyday photos: learn to correct exposure errors from a folder of good photos alone, since few
people have before/after pairs or a look to imitate, but everyone has photos they are happy with.

The spec's agent, networks and schedule, with two changes:
- inputs are synthetic: each batch of well-exposed photo patches is degraded at random (exposure
  -2.5..+2.5 EV in scene light, rendered as a camera renders it: back through an estimated camera
  tone curve, scaled, and through the curve again, with a toe and a highlight shoulder, or, for a
  quarter of them, a hard clip as phones clip (data.camera_curve); a mild white-balance cast, gamma,
  contrast and saturation change; 8-bit), and
- the paired reward: each step is rewarded by the PSNR it gained towards the patch's own original.

Encoding: the agent sees the stored sRGB values as they are ('display'). A per-photo normalization
(the 'srgb' encoding scales every photo to the same maximum) would hide the very exposure error the
agent must correct; a display-referred view also makes "leave a good photo alone" the identity.

Data: the 290 well-exposed photos of ../shared/data/photos (BSD100, Urban100, Sun-Hays80, Set14, Set5;
see its README). Any folder of good photos works: --input_dir=... --target_dir=... (the same folder).
Validation: 15% of the sorted files, evenly spread (every ~7th name), so all five sources are in it;
fixed here before training. `python data.py photos --list val` prints them.
"""
from config_example import *  # noqa: F401,F403  (the spec's hyper-parameters)

reward = 'paired'
input_kind = 'synthetic'
input_dir = '../shared/data/photos'     # well-exposed photos (relative paths: cwd, then project dir)
input_set = None
input_encoding = 'display'              # stored sRGB values, as they are (see above)
degrade_curve = 'camera'                # exposure errors as a camera renders them: a hard clip alone
                                        # makes over-exposed photos unrecoverable (their corrections grey)
target_kind = 'folder'                  # the unpaired targets, if trained with --reward=critic
target_dir = '../shared/data/photos'
target_set = None
target_encoding = 'display'
val_fraction = 0.15
val_first = None
val_spread = True
