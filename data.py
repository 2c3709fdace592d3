"""Training data (spec 7): providers of 64x64 patches for the agent's inputs and the critic's targets.

Three kinds, chosen per role by the config (input_kind / target_kind):
  fivek_pack    the FiveK pack of fetch_fivek.py: image_raw.npy, (4N, 80, 80, 3) linear ProPhoto crops
                (4 per photo), memory-mapped; a fold list picks the photos (spec 7.2).
  fivek_expert  the 5000 expert-C images, file k named %04d(k)...; a fold list picks them (spec 7.3).
  folder        every image in a folder (JPEG/PNG/TIFF/WebP/HEIC/RAW) with a declared colour encoding
                (spec 7.6).
  synthetic     (inputs only) good photos in a folder, each batch degraded at random in linear light
                (exposure, white balance, mild gamma/contrast/saturation): training from good photos alone.
For the paired reward (cfg.reward = 'paired') make_pair_provider serves input and target side by side
as 6-channel patches, aligned (the same crop and flip of one pair): folder pairs matched by name, or a
synthetic degradation next to its own original.
Every provider serves shuffled batches (a permutation consumed in order, reshuffled when used up) with
random flips, and crops when its patches are larger than 64. Batches of the default size are prepared
in a background thread so the training loop does not wait on them.

Command line: `python data.py CONFIG --list {train,val} [--key=value ...]` prints the input images of
a folder dataset's split, e.g. the held-out frames to evaluate on.
"""
import argparse
import math
import os
import queue
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

import atomic
import configurator
import develop
import domain
import image_io

SOURCE_SIZE = 80     # side of the square crops every image is reduced to (spec 7.2, 7.3, 7.6)
PATCH_SIZE = 64      # side of the patches the networks see
COPIES = 4           # patches made from each photo
PREFETCH_DEPTH = 3   # batches prepared ahead

FOLD_FILES = {'2k_train': 'FiveK_train_first2k.txt', '2k_target': 'FiveK_train_second2k.txt',
              'u_test': 'FiveK_test.txt', 'u_amt': 'FiveK_test_AMT.txt'}
FIVEK_VAL_SET = 'u_test'   # FiveK's held-out photos: what split='val' means for the FiveK kinds
KINDS = ('fivek_pack', 'fivek_expert', 'folder', 'synthetic')
ROLES = ('input', 'target')
SPLITS = ('train', 'val')


class DataError(Exception):
    """Training data that cannot be used. The message names the file or folder and the fix."""


# ----------------------------------------------------------------------------------------------
# Serving patches

class _Stream:
    """One repeatable sequence of draws: its own permutation and random generator."""

    def __init__(self, count, seed):
        self.rng = np.random.default_rng(seed)
        self.count = count
        self.order, self.pos = self.rng.permutation(count), 0

    def take(self, n):
        """The next n positions of the shuffled order, reshuffling whenever it is used up."""
        parts = []
        while n > 0:
            if self.pos == self.count:
                self.order, self.pos = self.rng.permutation(self.count), 0
            k = min(n, self.count - self.pos)
            parts.append(self.order[self.pos:self.pos + k])
            self.pos += k
            n -= k
        return np.concatenate(parts)


class Provider:
    """Serves float32 (B, 64, 64, 3) batches from `patches` (N, S, S, 3), S >= 64, rows `index`.

    Each patch is cropped to a random 64x64 window (offsets 0..S-64) and flipped left-right with
    probability 0.5. Batches of the default size come from a daemon thread; other sizes are made on
    the caller's thread from a separate stream, so a seeded run stays repeatable either way.
    """

    def __init__(self, patches, description, batch_size, seed, index=None, transform=None):
        self.patches = patches   # may be a read-only memmap: rows are read only when drawn
        self.transform = transform   # (batch, rng) -> batch, e.g. a synthetic degradation
        self.index = np.arange(len(patches)) if index is None else np.asarray(index)
        self.description = description
        self.batch_size = batch_size
        if not isinstance(seed, np.random.SeedSequence):
            seed = np.random.SeedSequence(seed)
        prefetch_seed, direct_seed = seed.spawn(2)
        self._prefetch_stream = _Stream(len(self.index), prefetch_seed)
        self._direct_stream = _Stream(len(self.index), direct_seed)
        self._direct_lock = threading.Lock()
        self._queue = queue.Queue(maxsize=PREFETCH_DEPTH)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._prefetch, daemon=True, name='data-prefetch')
        self._thread.start()

    def __len__(self):
        return len(self.index)

    def next_batch(self, batch_size=None):
        batch_size = batch_size or self.batch_size
        if batch_size != self.batch_size:
            with self._direct_lock:
                return self._make_batch(self._direct_stream, batch_size)
        if self._closed.is_set():
            raise RuntimeError(f"{self.description}: next_batch() after close()")
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._queue.put(item)   # every later call reports the failure too
            raise item
        return item

    def close(self):
        """Stops the prefetch thread, which holds the patches (a process that trains more than once
        would otherwise keep every dataset). Only batches of other sizes can be drawn after it."""
        self._closed.set()
        self._thread.join()

    def _prefetch(self):
        while not self._closed.is_set():
            try:
                item = self._make_batch(self._prefetch_stream, self.batch_size)
            except BaseException as e:  # handed to the consumer, which re-raises it
                item = e
            while not self._closed.is_set():   # a full queue is waited on only until close()
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    pass
            if isinstance(item, BaseException):
                return

    def _make_batch(self, stream, n):
        rows = self.index[stream.take(n)]
        margin = self.patches.shape[1] - PATCH_SIZE
        ys = stream.rng.integers(0, margin + 1, n)
        xs = stream.rng.integers(0, margin + 1, n)
        flips = stream.rng.random(n) < 0.5
        batch = _crop_and_flip(self.patches, rows, ys, xs, flips)
        return batch if self.transform is None else self.transform(batch, stream.rng)


def _crop_and_flip(images, rows, ys, xs, flips):
    """Patch i is images[rows[i]] cropped at (ys[i], xs[i]), flipped left-right if flips[i]."""
    out = np.empty((len(rows), PATCH_SIZE, PATCH_SIZE, images.shape[-1]), np.float32)
    for i, row in enumerate(rows):
        patch = images[row, ys[i]:ys[i] + PATCH_SIZE, xs[i]:xs[i] + PATCH_SIZE]
        out[i] = patch[:, ::-1] if flips[i] else patch
    return out


def _four_copies(squares, rng):
    """COPIES patches per 80x80 square, each flipped with p 0.5 and cropped at random (spec 7.3)."""
    n = len(squares) * COPIES
    margin = SOURCE_SIZE - PATCH_SIZE
    flips = rng.random(n) < 0.5
    ys = rng.integers(0, margin + 1, n)
    xs = rng.integers(0, margin + 1, n)
    return _crop_and_flip(squares, np.arange(n) // COPIES, ys, xs, flips)


# ----------------------------------------------------------------------------------------------
# Building a provider from a config

def make_provider(cfg, role, split='train', seed=None, paired=False):
    """The provider of cfg.<role>_kind/_dir/_set/_encoding; role 'input' or 'target'.

    split 'val' is the held-out part: a block of val_fraction of a folder's sorted files (starting
    at cfg.val_first, else the last ones), or the
    FiveK test fold (u_test) for the FiveK kinds. seed defaults to cfg.seed (None: unseeded).
    paired: synthetic inputs come with their originals as channels 3-5 (make_pair_provider).
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    kind, folder, set_name, encoding = (getattr(cfg, f'{role}_{key}')
                                        for key in ('kind', 'dir', 'set', 'encoding'))
    if kind not in KINDS:
        raise DataError(f"unknown {role}_kind {kind!r}; use one of {', '.join(KINDS)}")
    seed = getattr(cfg, 'seed', None) if seed is None else seed
    # Input and target (and train and val) get different streams from one seed.
    load_seed, serve_seed = np.random.SeedSequence(
        seed, spawn_key=(ROLES.index(role), SPLITS.index(split))).spawn(2)
    folder = _resolve(folder)
    if kind == 'synthetic' and role == 'target':
        raise DataError("target_kind='synthetic': synthetic degradation makes inputs; the targets of "
                        "good photos are target_kind='folder' (the same folder)")
    if kind in ('folder', 'synthetic'):
        paths = folder_split(cfg, role, split)
        patches, info = _load_images(paths, encoding, role, kind, np.random.default_rng(load_seed))
        where = 'spread' if cfg.val_spread else f"from {cfg.val_first or 'the end'}"
        info = f"{split} split with val_fraction {cfg.val_fraction} {where}, {info}"
        index = None
    else:
        set_name = FIVEK_VAL_SET if split == 'val' else set_name
        ids = read_fold(cfg.folds_dir, set_name)
        if kind == 'fivek_pack':
            patches, index, info = _load_fivek_pack(folder, ids, set_name, encoding, role)
        else:
            paths = _expert_files(folder, ids, role)
            patches, info = _load_images(paths, encoding, role, kind, np.random.default_rng(load_seed))
            index = None
        info = f"set {set_name}, {info}"
    count = len(patches) if index is None else len(index)
    transform = Degradation(cfg, paired) if kind == 'synthetic' else None
    label = 'input|target' if paired else role
    return Provider(patches, f"{label}: {kind} {folder} ({info}) -> {count} patches",
                    cfg.batch_size, serve_seed, index, transform)


def make_pair_provider(cfg, split='train', seed=None):
    """Aligned (input | target) 6-channel patches for the paired reward.

    input_kind 'folder': each input image with the target image of the same name (extension aside)
    in target_dir; names that do not pair up are an error. input_kind 'synthetic': a degraded good
    photo next to the photo itself.
    """
    if cfg.input_kind not in ('folder', 'synthetic'):
        raise DataError(f"reward='paired' needs input_kind 'folder' (pairs matched by name) or "
                        f"'synthetic' (good photos), not {cfg.input_kind!r}")
    seed = getattr(cfg, 'seed', None) if seed is None else seed
    load_seed, serve_seed = np.random.SeedSequence(seed, spawn_key=(2, SPLITS.index(split))).spawn(2)
    if cfg.input_kind == 'synthetic':
        return make_provider(cfg, 'input', split, seed, paired=True)
    inputs = folder_split(cfg, 'input', split)
    targets = matching_targets(inputs, _resolve(cfg.target_dir))
    rng = np.random.default_rng(load_seed)
    squares, info = _read_squares(inputs + targets, [cfg.input_encoding] * len(inputs)
                                  + [cfg.target_encoding] * len(targets), 'input', 'folder')
    paired = [np.concatenate([a, b], axis=-1) for a, b in zip(squares[:len(inputs)], squares[len(inputs):])
              if a is not None and b is not None]
    if not paired:
        raise DataError(f"{cfg.input_dir}: no readable input/target pair")
    patches = _four_copies(np.stack(paired), rng)
    description = (f"input|target: folder pairs {cfg.input_dir} | {cfg.target_dir} ({split} split, "
                   f"{len(paired)} pairs, {info}) -> {len(patches)} patches")
    return Provider(patches, description, cfg.batch_size, serve_seed)


def matching_targets(inputs, target_dir):
    """The file in target_dir with each input's name (extension aside); every file must pair up."""
    targets = {os.path.splitext(os.path.basename(p))[0]: p
               for p in _list_folder(target_dir, 'target', 'folder')}
    names = [os.path.splitext(os.path.basename(p))[0] for p in inputs]
    unmatched = [os.path.basename(p) for p, n in zip(inputs, names) if n not in targets]
    if unmatched:
        raise DataError(f"{len(unmatched)} input image(s) have no target of the same name in "
                        f"{target_dir}: {', '.join(unmatched[:8])}{' ...' if len(unmatched) > 8 else ''}; "
                        "the paired reward pairs inputs and targets by file name (extension aside)")
    return [targets[n] for n in names]


# ----------------------------------------------------------------------------------------------
# Synthetic exposure errors: a good photo's patch, degraded as a camera and a careless edit would
#
# Two models of how a camera renders a wrong exposure ('degrade_curve' in the config):
#   'clip'    linear light x 2^EV, every value above display white clipped (a sensor with no headroom);
#   'camera'  the photo is taken back through an estimated camera tone curve T to scene light, scaled by
#             2^EV there and rendered again through T: a toe in the deep shadows, identity through the
#             mid-tones and a highlight shoulder that reaches display white only at `white` (> 1, the
#             scene's headroom), as raw converters render; with probability degrade_clip_fraction the
#             curve has no shoulder (white = 1: a hard clip, as phones do). T is applied per channel, so
#             highlights also lose saturation as they near white, as converters' per-channel curves do.
# A wrong exposure under the 'camera' model stays recoverable by one global curve except where the
# shoulder saturates; under 'clip' everything above white collapses to white, and the best global
# correction sends white to the mean of what was lost (grey).

TOE_END = 0.05       # display-linear value below which the toe acts (about 0.25 stored sRGB)


def camera_curve(s, knee, white, toe):
    """T: scene light s -> display light in [0, 1]. Mid-tones pass unchanged; below TOE_END the toe
    v - toe v (1 - v)^2 (v = s / TOE_END; toe in [0, 1) keeps it increasing, with slope 1 at its end);
    above `knee` the shoulder knee + (1 - knee) a u / (1 + (a - 1) u), u = (s - knee) / (white - knee),
    a = (white - knee) / (1 - knee) (slope 1 at the knee, display white at s = white, clipped above).
    white = 1 is a hard clip at 1. Parameters broadcast against s (per image: shape (B, 1, 1, 1))."""
    s = np.maximum(s, 0.0)
    v = np.minimum(s / TOE_END, 1.0)
    out = np.where(s < TOE_END, TOE_END * (v - toe * v * (1.0 - v) ** 2), s)
    a = (white - knee) / (1.0 - knee)
    u = np.clip((s - knee) / (white - knee), 0.0, 1.0)
    return np.where(s > knee, knee + (1.0 - knee) * a * u / (1.0 + (a - 1.0) * u), out).astype(np.float32)


def inverse_camera_curve(y, knee, white, toe):
    """T^-1: display light in [0, 1] -> scene light (display white -> `white`). The shoulder inverts in
    closed form, the toe by Newton's method (its slope is at least 1 - toe)."""
    y = np.clip(y, 0.0, 1.0)
    a = (white - knee) / (1.0 - knee)
    z = np.clip((y - knee) / (1.0 - knee), 0.0, 1.0)
    shoulder = knee + (white - knee) * z / (a - (a - 1.0) * z)
    target = np.minimum(y / TOE_END, 1.0)
    v = target
    for _ in range(8):
        v = np.clip(v - (v - toe * v * (1.0 - v) ** 2 - target) / (1.0 - toe * (1.0 - v) * (1.0 - 3.0 * v)),
                    0.0, 1.0)
    return np.where(y > knee, shoulder, np.where(y < TOE_END, TOE_END * v, y)).astype(np.float32)


# The camera curve of the validation renders and of bench/degradation_vs_rawpy.py: the middle of the
# training ranges (config_photos.py), fixed so that renders are repeatable.
VALIDATION_CURVE = {'knee': 0.6, 'white': 4.0, 'toe': 0.3}


def render_exposure(img, ev, curve=None):
    """An sRGB photo as if shot `ev` stops off, re-encoded and quantized to 8 bits (the validation
    renders). curve None: linear light x 2^ev, clipped as a sensor clips ('clip'); a dict of
    camera_curve's parameters: through that camera curve and back ('camera')."""
    linear = image_io.srgb_to_linear(img)
    gain = np.float32(2.0 ** ev)
    if curve is None:
        out = linear * gain
    else:
        out = camera_curve(inverse_camera_curve(linear, **curve) * gain, **curve)
    return np.round(image_io.linear_to_srgb(out) * 255) / np.float32(255)


class Degradation:
    """Makes training inputs from good sRGB patches (B, 64, 64, 3), with ranges from the config:
    exposure error and white-balance shift in scene light (rendered by cfg.degrade_curve: see above),
    then mild gamma, contrast and saturation changes on the encoded values, quantized to 8 bits.
    Returns the degraded batch, or with paired=True the degraded batch and its original side by side.
    """

    def __init__(self, cfg, paired):
        if cfg.input_encoding != 'display':
            raise DataError(f"input_kind='synthetic' degrades stored sRGB photos and shows them to the "
                            f"agent as stored: use input_encoding='display', not {cfg.input_encoding!r}")
        if cfg.degrade_curve not in ('clip', 'camera'):
            raise DataError(f"degrade_curve={cfg.degrade_curve!r}: use 'clip' or 'camera'")
        self.cfg, self.paired = cfg, paired

    def curves(self, n, rng):
        """Per-image camera curves (B, 1, 1, 1) each: knee uniform, white log-uniform, toe uniform; a
        degrade_clip_fraction of them hard clips (white = 1)."""
        cfg, shape = self.cfg, (n, 1, 1, 1)
        knee = rng.uniform(*cfg.degrade_knee, shape)
        white = np.exp(rng.uniform(*np.log(cfg.degrade_white), shape))
        white = np.where(rng.random(shape) < cfg.degrade_clip_fraction, 1.0, white)
        toe = rng.uniform(*cfg.degrade_toe, shape)
        return {'knee': knee.astype(np.float32), 'white': white.astype(np.float32), 'toe': toe.astype(np.float32)}

    def __call__(self, batch, rng):
        cfg, n = self.cfg, len(batch)
        ev = rng.uniform(*cfg.degrade_exposure, n)
        wb = np.exp(rng.uniform(-cfg.degrade_white_balance, cfg.degrade_white_balance, (n, 3)))
        wb /= wb @ np.array(image_io.LUM_WEIGHTS)[:, None]           # a colour cast, not a brightness change
        gain = ((2.0 ** ev)[:, None] * wb)[:, None, None, :].astype(np.float32)
        linear = image_io.srgb_to_linear(batch)
        if cfg.degrade_curve == 'camera':
            curve = self.curves(n, rng)
            x = image_io.linear_to_srgb(camera_curve(inverse_camera_curve(linear, **curve) * gain, **curve))
        else:
            x = image_io.linear_to_srgb(linear * gain)
        shape = (n, 1, 1, 1)
        gamma = np.exp(rng.uniform(-1, 1, shape) * np.log(cfg.degrade_gamma))
        contrast = rng.uniform(-cfg.degrade_contrast, cfg.degrade_contrast, shape)
        saturation = 1.0 + rng.uniform(-cfg.degrade_saturation, cfg.degrade_saturation, shape)
        x = np.clip(0.5 + (x ** gamma - 0.5) * (1.0 + contrast), 0.0, 1.0)
        grey = x @ np.array(image_io.LUM_WEIGHTS, np.float32)[:, None]
        x = np.clip(grey + saturation * (x - grey), 0.0, 1.0)
        x = (np.round(x * 255) / 255).astype(np.float32)
        return np.concatenate([x, batch], axis=-1) if self.paired else x


def split_files(files, val_fraction, val_first=None, val_spread=False):
    """(train, val): files sorted by name; ceil(val_fraction * N) of them are validation.

    By default a contiguous block by name (frame number for video frames), so neighbouring
    near-duplicate frames do not straddle the split; it starts at the file named val_first (a base
    name), or is the last files when val_first is None. val_spread=True instead takes files evenly
    spread over the sorted list: for independent photos from several sources, where any block would
    hold one source only.
    """
    if not 0 <= val_fraction <= 1:
        raise ValueError(f"val_fraction must be in [0, 1], not {val_fraction}")
    files = sorted(files, key=lambda f: (os.path.basename(f), f))
    n_val = math.ceil(val_fraction * len(files) - 1e-9)   # 0.15 * 100 is 15.000000000000002
    if val_spread:
        chosen = set(np.round(np.linspace(0, len(files) - 1, n_val)).astype(int)) if n_val else set()
        return ([f for i, f in enumerate(files) if i not in chosen],
                [f for i, f in enumerate(files) if i in chosen])
    start = len(files) - n_val
    if val_first is not None and n_val:
        names = [os.path.basename(f) for f in files]
        if val_first not in names:
            raise DataError(f"val_first {val_first!r} is not among the {len(files)} files "
                            f"(from {names[0] if names else '-'} to {names[-1] if names else '-'}); pass "
                            f"--val_first=<one of them>, or --val_first=None to hold out the last files")
        start = names.index(val_first)
        if start + n_val > len(files):
            raise DataError(f"val_first {val_first!r}: the validation block of {n_val} files runs "
                            f"past the last file; choose a file at most the "
                            f"{n_val}th from the end")
    return files[:start] + files[start + n_val:], files[start:start + n_val]


def folder_split(cfg, role, split):
    """Paths of the images of a folder dataset's split (train or val)."""
    kind = getattr(cfg, f'{role}_kind')
    if kind not in ('folder', 'synthetic'):
        raise DataError(f"{role}_kind is {kind!r}, not 'folder': FiveK data is split by folds "
                        f"(its held-out photos are the {FIVEK_VAL_SET} fold)")
    folder = _resolve(getattr(cfg, f'{role}_dir'))
    train, val = split_files(_list_folder(folder, role, kind), cfg.val_fraction,
                             cfg.val_first, cfg.val_spread)
    chosen = train if split == 'train' else val
    if not chosen:
        raise DataError(f"{folder}: the {split} split is empty (val_fraction={cfg.val_fraction}); "
                        + ("set e.g. --val_fraction=0.15 to hold out images" if split == 'val'
                           else "lower val_fraction"))
    return chosen


def read_fold(folds_dir, set_name):
    """The 1-based FiveK ids of a fold (spec 7.1); lines starting with '#' are comments."""
    if set_name not in FOLD_FILES:
        raise DataError(f"unknown FiveK set {set_name!r}; use one of {', '.join(FOLD_FILES)}")
    path = os.path.join(_resolve(folds_dir), FOLD_FILES[set_name])
    if not os.path.isfile(path):
        raise DataError(f"{path}: FiveK fold list not found; run `python fetch_fivek.py` (it fetches "
                        f"the fold lists), or set --folds_dir to the folder holding "
                        f"{', '.join(FOLD_FILES.values())}")
    ids = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            try:
                ids.append(int(line))
            except ValueError:
                raise DataError(f"{path}, line {number}: {line!r} is not a FiveK id") from None
    if not ids:
        raise DataError(f"{path}: the fold list holds no ids")
    return np.array(ids)


def _resolve(path):
    """Relative data paths are taken from the working directory, else from the project folder."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    candidate = os.path.join(configurator.PROJECT_DIR, path)
    return candidate if os.path.exists(candidate) else path


def _no_data(folder, role, kind, what):
    """The error for missing training data, with the fix that fits where the config looks for it."""
    if kind == 'synthetic':     # good photos alone (config_photos.py): no download fits
        return (f"{folder}: {what}; point --{role}_dir=PATH at a folder of well-exposed photos, e.g. "
                "your own JPEGs (with --target_dir=PATH, the same folder)")
    fetch = ('run `python fetch_fivek.py --sintel` for the Sintel frames, or ' if 'sintel' in folder else
             '' if kind == 'folder' else 'run `python fetch_fivek.py` to download the FiveK data, or ')
    return f"{folder}: {what}; {fetch}point the config at your own images with --{role}_kind=folder --{role}_dir=PATH"


def _list_folder(folder, role, kind):
    """Supported images in the folder, sorted; hidden files (e.g. macOS '._x.jpg') are ignored."""
    if not os.path.isdir(folder):
        problem = image_io.permission_problem(folder)       # not missing: a folder above is not searchable
        raise DataError(f"{folder}: {problem}" if problem else _no_data(folder, role, kind, 'folder not found'))
    names = sorted(n for n in os.listdir(folder)
                   if n.lower().endswith(image_io.IMAGE_EXTENSIONS) and not n.startswith('.'))
    if not names:
        raise DataError(_no_data(folder, role, kind, 'no images (JPEG/PNG/TIFF/WebP/HEIC/RAW) in the folder'))
    return [os.path.join(folder, n) for n in names]


def _expert_files(folder, ids, role):
    """Files of the fold in the expert folder, where sorted file k-1 is named %04d(k)... (spec 7.3)."""
    files = _list_folder(folder, role, 'fivek_expert')
    paths = []
    for fivek_id in ids:
        name = os.path.basename(files[fivek_id - 1]) if fivek_id <= len(files) else None
        if name is None or not name.startswith(f'{fivek_id:04d}'):
            raise DataError(f"{folder}: expected sorted file number {fivek_id} to be named "
                            f"{fivek_id:04d}..., found {name or 'no such file'}; the folder must "
                            f"hold the 5000 expert images 0001... to 5000... "
                            f"(`python fetch_fivek.py`)")
        paths.append(files[fivek_id - 1])
    return paths


def _load_fivek_pack(folder, ids, set_name, encoding, role):
    """Memory-maps image_raw.npy and keeps patch i iff photo i//4 + 1 is in the fold (spec 7.2)."""
    if encoding not in ('linear', 'display'):
        raise DataError(f"{role}_encoding={encoding!r}: the FiveK pack is already linear; "
                        "use 'linear'")
    path = os.path.join(folder, 'image_raw.npy')
    if not os.path.isfile(path):
        raise DataError(_no_data(path, role, 'fivek_pack', 'FiveK pack not found'))
    try:
        pack = np.load(path, mmap_mode='r')
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: cannot read the FiveK pack ({e}); delete it and run "
                        "`python fetch_fivek.py` again") from None
    if pack.ndim != 4 or pack.shape[1:] != (SOURCE_SIZE, SOURCE_SIZE, 3):
        raise DataError(f"{path}: expected patches of shape (N, {SOURCE_SIZE}, {SOURCE_SIZE}, 3), "
                        f"found {pack.shape}; delete it and run `python fetch_fivek.py` again")
    photo_ids = np.arange(len(pack)) // COPIES + 1
    index = np.flatnonzero(np.isin(photo_ids, ids))
    found = len(np.unique(photo_ids[index]))
    if not found:
        raise DataError(f"{path}: none of the {len(ids)} photos of set {set_name} are in the pack "
                        f"({len(pack) // COPIES} photos); run `python fetch_fivek.py` again")
    if found < len(np.unique(ids)):
        print(f"warning: {path}: only {found} of the {len(ids)} photos of set {set_name} are in "
              "the pack", file=sys.stderr)
    return pack, index, f"{found} photos"


def _load_images(paths, encoding, role, kind, rng):
    """Reads images (in a thread pool), reduces each to its centre square at 80x80 and makes four
    augmented 64x64 patches of it. Unreadable files are skipped with a warning; images smaller
    than 80 px on their short side are an error (upscaling them would train on blur)."""
    squares, info = _read_squares(paths, [encoding] * len(paths), role, kind)
    squares = [q for q in squares if q is not None]
    if not squares:
        folder = os.path.dirname(paths[0]) if paths else '(no files)'
        raise DataError(_no_data(folder, role, kind, f"none of the {len(paths)} images is readable"))
    patches = _four_copies(np.stack(squares), rng)
    return patches, f"{len(squares)} images, {info}, encoding {encoding}"


def _read_squares(paths, encodings, role, kind):
    """The 80x80 squares of the images (in a thread pool), None for an unreadable one (warned)."""
    for encoding in set(encodings):
        if encoding not in image_io.ENCODINGS:
            raise DataError(f"{role}_encoding={encoding!r}: use one of {', '.join(image_io.ENCODINGS)}")
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2)) as pool:
        results = list(pool.map(_read_square, paths, encodings))
    squares, small, skipped = [], [], 0
    for path, result in zip(paths, results):
        if isinstance(result, image_io.ImageError):
            print(f"warning: skipping unreadable image: {result}", file=sys.stderr)
            skipped += 1
            result = None
        elif isinstance(result, tuple):
            small.append(f"{path} ({result[0]}x{result[1]})")
        squares.append(result)
    if small:
        raise DataError(f"{len(small)} image(s) smaller than {SOURCE_SIZE} px on the short side: "
                        + ', '.join(small[:5]) + (' ...' if len(small) > 5 else '')
                        + f"; remove them or use images of at least {SOURCE_SIZE}x{SOURCE_SIZE}")
    return squares, f"{skipped} unreadable skipped"


def _read_square(path, encoding):
    """80x80 INTER_AREA reduction of the linearized image's centre square; an ImageError when
    unreadable; (width, height) when too small.

    A transparent photo is seen as retouching shows it to the agent (develop.low_res_view): the
    colours stored under fully transparent pixels (black, white, an editor's left-overs) never count,
    neither in the 'srgb' scaling nor in the patches, each pixel weighed by its alpha; where none is
    visible, a neutral grey at the visible part's mean luminance."""
    try:
        samples, alpha = image_io.read_photo(path, image_io.raw_curve(encoding))
        if alpha is not None and not alpha.any():
            raise image_io.ImageError(f"{path}: every pixel is fully transparent: nothing to learn from")
    except image_io.ImageError as e:
        return e
    h, w = samples.shape[:2]
    if min(h, w) < SOURCE_SIZE:
        return (w, h)
    img = image_io.to_float(samples)
    del samples

    def reduce(square):
        return cv2.resize(image_io.center_square(square), (SOURCE_SIZE, SOURCE_SIZE),
                          interpolation=cv2.INTER_AREA).reshape(SOURCE_SIZE, SOURCE_SIZE, -1)
    # Linearize the whole image, as evaluation does, so 'srgb' normalizes by the image's (visible) maximum.
    if alpha is None:
        return reduce(image_io.linearize(img, encoding))
    opacity = image_io.to_float(alpha)[..., None]
    img = image_io.linearize(np.where(opacity > 0, img, np.float32(0)), encoding)
    return develop.visible_colours(reduce(img * opacity), reduce(opacity))


# ----------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Print the input images of a folder dataset's train or validation split, or record "
                    "a model's input domain.", allow_abbrev=False,
        epilog="Config values can be overridden as --key=value. Examples: python data.py sintel --list val; "
               "python data.py sintel --domain models/sintel/pretrained --input_dir=../shared/data/sintel/inputs")
    parser.add_argument('config', type=configurator.config_name, help="config name, e.g. sintel for config_sintel.py")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument('--list', choices=SPLITS, help="which split to print")
    action.add_argument('--domain', metavar='MODEL_DIR',
                        help="write MODEL_DIR/input_domain.json from the model's config.json and its training "
                             "data (for a model trained before train.py recorded it)")
    args, overrides = parser.parse_known_args(argv)
    try:
        if args.domain:
            cfg = configurator.apply_overrides(configurator.load_snapshot(os.path.join(args.domain, 'config.json'),
                                                          args.config), overrides)
            inputs = (make_pair_provider(cfg, 'train') if cfg.reward == 'paired'
                      else make_provider(cfg, 'input', 'train'))
            atomic.write_json(os.path.join(args.domain, 'input_domain.json'), domain.record(cfg, inputs))
            inputs.close()
            print(f"wrote {os.path.join(args.domain, 'input_domain.json')} from {inputs.description}")
            return
        paths = folder_split(configurator.load_config(args.config, overrides), 'input', args.list)
    except DataError as e:
        raise SystemExit(f"error: {e}") from None
    print('\n'.join(paths))


if __name__ == '__main__':
    main()
