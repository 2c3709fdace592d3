"""Shared helpers: the small math of spec 3.1, image input/output, crops, and config loading.

Imports nothing of the project. Image arrays are float32 (H, W, 3) RGB; values are in [0, 1] when
read, and may exceed 1 after filters.
"""
import ast
import glob
import importlib
import json
import os
import sys
import tempfile
import types

import cv2
import numpy as np
import tensorflow as tf

# ----------------------------------------------------------------------------------------------
# Math helpers (spec 3.1)

LUM_WEIGHTS = (0.27, 0.67, 0.06)


def tanh01(x):
    return (tf.tanh(x) + 1.0) / 2.0


def tanh_range(l, r, initial=None):
    """Maps a pre-activation to (l, r); a pre-activation of 0 maps to `initial` when given."""
    bias = 0.0 if initial is None else float(np.arctanh(2.0 * (initial - l) / (r - l) - 1.0))
    return lambda x: tanh01(x + bias) * (r - l) + l


def lerp(a, b, t):
    return (1.0 - t) * a + t * b


def lum(img):
    """Linear luminance 0.27 R + 0.67 G + 0.06 B, kept as one channel: (..., 3) -> (..., 1)."""
    return img[..., 0:1] * LUM_WEIGHTS[0] + img[..., 1:2] * LUM_WEIGHTS[1] + img[..., 2:3] * LUM_WEIGHTS[2]


# ----------------------------------------------------------------------------------------------
# Image input

class ImageError(Exception):
    """An input image that cannot be used. The message names the file and says what is wrong."""


TIFF_EXTENSIONS = ('.tif', '.tiff')
RAW_EXTENSIONS = ('.dng', '.cr2', '.cr3', '.nef', '.arw', '.kdc', '.raf', '.orf', '.rw2', '.pef',
                  '.srw', '.raw', '.nrw', '.sr2', '.3fr', '.erf', '.mrw', '.x3f', '.iiq', '.rwl')
IMAGE_EXTENSIONS = TIFF_EXTENSIONS + ('.png', '.jpg', '.jpeg') + RAW_EXTENSIONS
MAX_PIXELS = 400_000_000   # refuse absurd sizes before allocating (a 24 MP photo is 24e6)

# How stored values become the agent's linear input (spec 8.2; decisions: declared encodings):
# the exponent of each encoding (srgb is then scaled, see linearize).
ENCODING_EXPONENTS = {'display': 1.0, 'linear': 1.0, 'prophoto': 1.8, 'srgb': 2.2}
ENCODINGS = tuple(ENCODING_EXPONENTS)


def default_encoding(path):
    """The original's rule: TIFF is gamma-1.8 ProPhoto; RAW decodes to linear; JPEG/PNG are sRGB."""
    ext = os.path.splitext(path)[1].lower()
    if ext in TIFF_EXTENSIONS:
        return 'prophoto'
    if ext in RAW_EXTENSIONS:
        return 'linear'
    return 'srgb'


def linearize(img, encoding):
    """Stored values in [0, 1] -> the domain the agent sees.

    display / linear: unchanged (display-referred training data such as Sintel keeps its values).
    prophoto: x^1.8 (the FiveK Lightroom export).
    srgb: x^2.2, then scaled so the maximum is 0.5 ("mimic RAW exposure", as the original did for
          JPEG/PNG; applied identically when training on 'srgb' folders so both see one domain).
    """
    if encoding not in ENCODING_EXPONENTS:
        raise ValueError(f"unknown colour encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
    exponent = ENCODING_EXPONENTS[encoding]
    if exponent == 1.0:
        return img
    img = np.power(img, exponent, dtype=np.float32)
    return img * srgb_gain(img.max()) if encoding == 'srgb' else img


def srgb_gain(peak):
    """The srgb encoding's scale: it takes the linearized image's maximum `peak` to 0.5."""
    return np.float32(0.5 / max(float(peak), 1e-6))


# Full scale of each integer sample type: stored value / full scale is in [0, 1].
FULL_SCALE = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}


def _to_rgb(arr, path):
    """uint8/uint16/float array (H, W[, C]) in file channel order -> RGB (H, W, 3) samples, checked:
    integers as stored, floats as float32 in [0, 1]."""
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"{path}: not a 2-D image (array shape {arr.shape})")
    channels = arr.shape[2]
    if channels in (1, 2):           # grey (+ alpha): replicate the grey channel
        arr = np.repeat(arr[..., :1], 3, axis=2)
    elif channels >= 4:              # drop alpha / extra samples
        arr = arr[..., :3]
    if arr.dtype.kind == 'f':
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise ImageError(f"{path}: contains NaN or infinite values; re-export the image")
        arr = np.clip(arr, 0.0, None)
        if arr.max() > 1.0:
            raise ImageError(f"{path}: floating-point image with values above 1 (max {arr.max():.3g});"
                             " export it normalized to [0, 1] or as 8/16-bit")
    elif arr.dtype not in FULL_SCALE:
        raise ImageError(f"{path}: unsupported sample type {arr.dtype}; use 8- or 16-bit images")
    return np.ascontiguousarray(arr)


def to_float(samples):
    """Samples (uint8, uint16, or float32 in [0, 1]) -> float32 in [0, 1]: x / 255, x / 65535."""
    if samples.dtype in FULL_SCALE:
        return samples.astype(np.float32) / np.float32(FULL_SCALE[samples.dtype])
    return samples


def _read_tiff(path):
    import tifffile
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            if np.prod(page.shape) > MAX_PIXELS * 4:
                raise ImageError(f"{path}: image too large ({page.shape}); downscale it first")
            arr = page.asarray()
            # Planar RGB (one plane per sample) -> interleaved, as every other reader returns.
            return np.moveaxis(arr, 0, -1) if page.axes.startswith('S') else arr
    except ImageError:
        raise
    except Exception as e:  # tifffile raises many types for truncated or malformed files
        raise ImageError(f"{path}: cannot read TIFF ({type(e).__name__}: {e}); the file may be "
                         "truncated or corrupt") from None


def _read_raw(path):
    try:
        import rawpy
    except ImportError:
        raise ImageError(f"{path}: camera RAW needs rawpy (pip install rawpy)") from None
    try:
        with rawpy.imread(path) as raw:
            # Linear 16-bit: camera white balance, no auto-brightness, no gamma (decisions: RAW input).
            return raw.postprocess(use_camera_wb=True, no_auto_bright=True, gamma=(1, 1),
                                   output_bps=16, output_color=rawpy.ColorSpace.sRGB)
    except Exception as e:
        raise ImageError(f"{path}: cannot decode camera RAW ({type(e).__name__}: {e})") from None


def read_samples(path):
    """Reads an image's stored samples as RGB (H, W, 3): uint8 or uint16 as stored, float as float32.

    TIFF through tifffile, PNG/JPEG through OpenCV (unchanged, so 16-bit PNG keeps its bits), camera
    RAW through rawpy (linear). Raises ImageError naming the file for anything unusable.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ImageError(f"{path}: is a folder, not an image")
    if os.path.getsize(path) == 0:
        raise ImageError(f"{path}: empty file")
    ext = os.path.splitext(path)[1].lower()
    if ext in TIFF_EXTENSIONS:
        arr = _read_tiff(path)
    elif ext in RAW_EXTENSIONS:
        arr = _read_raw(path)
    elif ext in ('.png', '.jpg', '.jpeg'):
        arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise ImageError(f"{path}: cannot decode {ext[1:].upper()}; the file may be truncated, "
                             "corrupt, or not an image")
        if arr.ndim == 3 and arr.shape[2] >= 3:   # OpenCV gives BGR(A)
            arr = arr[..., [2, 1, 0]]
    else:
        raise ImageError(f"{path}: unsupported file type {ext or '(none)'}; supported: "
                         + ' '.join(IMAGE_EXTENSIONS))
    if arr.ndim >= 2 and arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise ImageError(f"{path}: image too large ({arr.shape[1]}x{arr.shape[0]}); downscale it first")
    return _to_rgb(arr, path)


def read_image(path):
    """Reads an image's stored values as float32 RGB (H, W, 3) in [0, 1], keeping 16-bit depth."""
    return to_float(read_samples(path))


def load_linear(path, encoding=None):
    """read_image + linearize with the file's default encoding unless one is given."""
    return linearize(read_image(path), encoding or default_encoding(path))


def list_images(items):
    """Expands files, folders (supported images inside, sorted) and glob patterns, in order.

    Names that match nothing are kept, so the caller reports them as missing files.
    """
    out = []
    for item in items:
        item = os.fspath(item)
        if os.path.isdir(item):
            out += sorted(os.path.join(item, f) for f in os.listdir(item)
                          if f.lower().endswith(IMAGE_EXTENSIONS))
        elif any(c in item for c in '*?[') and not os.path.exists(item):
            out += sorted(glob.glob(item)) or [item]
        else:
            out.append(item)
    return out


def image_statistics(img):
    """(mean luminance, contrast = 2 x std of luminance, mean HLS saturation) of an image clipped to
    [0, 1]: the statistics of the paper's histogram metric (spec 8.6), also recorded in recipes."""
    x = np.ascontiguousarray(np.clip(img, 0.0, 1.0), np.float32)
    luminance = x @ np.array(LUM_WEIGHTS, np.float32)
    saturation = cv2.cvtColor(x, cv2.COLOR_RGB2HLS)[..., 2]   # float HLS: S in [0, 1]
    return float(luminance.mean()), float(2.0 * luminance.std()), float(saturation.mean())


# ----------------------------------------------------------------------------------------------
# Image output (atomic: a temporary name in the same folder, then rename)

OUTPUT_FORMATS = {'png': '.png', 'png16': '.png', 'tiff16': '.tif'}


def quantize(img, bits):
    """float image -> uint8/uint16, clipped to [0, 1] and rounded (OpenCV's saturate cast)."""
    scale = 255.0 if bits == 8 else 65535.0
    return np.rint(np.clip(img, 0.0, 1.0) * np.float32(scale)).astype(np.uint8 if bits == 8 else np.uint16)


def write_image(path, img, fmt=None):
    """Writes float RGB in [0, 1] (or uint8/uint16 RGB) atomically. fmt: png, png16 or tiff16.

    The format defaults to the extension: .tif/.tiff -> tiff16, .png -> png (8-bit).
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    fmt = fmt or ('tiff16' if ext in TIFF_EXTENSIONS else 'png')
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; use one of {', '.join(OUTPUT_FORMATS)}")
    bits = 8 if fmt == 'png' else 16
    arr = img if img.dtype in (np.uint8, np.uint16) else quantize(img, bits)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-', suffix=OUTPUT_FORMATS[fmt])
    os.close(fd)
    try:
        if fmt == 'tiff16':
            import tifffile
            tifffile.imwrite(tmp, arr, photometric='rgb')
        elif not cv2.imwrite(tmp, cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)):    # OpenCV writes BGR
            raise OSError(f"{path}: OpenCV could not write the image")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


# ----------------------------------------------------------------------------------------------
# Crops (spec 7.2, 7.3, 8.2)

def center_square(img):
    h, w = img.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return img[y:y + s, x:x + s]


def random_square_crops(img, count, size, rng):
    """`count` random square crops of side min(H, W), each resized to size x size with INTER_AREA."""
    h, w = img.shape[:2]
    s = min(h, w)
    crops = []
    for _ in range(count):
        y = rng.integers(0, h - s + 1)
        x = rng.integers(0, w - s + 1)
        crops.append(cv2.resize(img[y:y + s, x:x + s], (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(crops).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Configs: plain modules config_<name>.py next to this file

PROJECT_DIR = os.path.dirname(os.path.abspath(__file__))


def available_configs():
    return sorted(os.path.basename(p)[len('config_'):-3]
                  for p in glob.glob(os.path.join(PROJECT_DIR, 'config_*.py')))


def load_config(name, overrides=()):
    """'example' -> a namespace of config_example's values, with `--key=value` overrides applied.

    Unknown names give a clear error listing the available configs. Each call returns a fresh
    namespace, so overrides never leak between loads.
    """
    if name not in available_configs():
        raise SystemExit(f"error: unknown config {name!r}: no config_{name}.py in {PROJECT_DIR}. "
                         f"Available configs: {', '.join(available_configs())}")
    if PROJECT_DIR not in sys.path:
        sys.path.insert(0, PROJECT_DIR)
    module = importlib.import_module(f'config_{name}')
    cfg = types.SimpleNamespace(**{k: v for k, v in vars(module).items() if not k.startswith('_')
                                   and not isinstance(v, (type, types.ModuleType, types.FunctionType))})
    cfg.config_name = name
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg, overrides):
    """Applies ['--key=value', ...]; values are Python literals (strings may be bare)."""
    for item in overrides:
        key, sep, text = item.lstrip('-').partition('=')
        if not sep or not hasattr(cfg, key):
            known = ', '.join(sorted(vars(cfg)))
            raise SystemExit(f"error: bad override {item!r}: expected --key=value with a key of the "
                             f"config ({known})")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        old = getattr(cfg, key)
        if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if old is not None and value is not None and not isinstance(value, type(old)) and key != 'filters':
            raise SystemExit(f"error: override {item!r}: {key} must be {type(old).__name__} "
                             f"(config value {old!r})")
        setattr(cfg, key, value)
    return cfg


def load_snapshot(path, name=None):
    """The config a model was trained with: its config.json (config_to_dict) over the values of
    config_<name>.py (name: the snapshot's own config_name unless given)."""
    with open(path) as f:
        saved = json.load(f)
    cfg = load_config(name or saved['config_name'])
    for key, value in saved.items():
        setattr(cfg, key, tuple(value) if isinstance(getattr(cfg, key, None), tuple) else value)
    return cfg


def config_to_dict(cfg):
    """JSON-ready snapshot of a config; filter classes are stored by name."""
    out = {}
    for k, v in vars(cfg).items():
        if k == 'filters':
            v = [f if isinstance(f, str) else f.__name__ for f in v]
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


def configure_tensorflow():
    """Uses a GPU when TensorFlow sees one (memory growth on, no fixed fraction), else the CPU.

    Returns a one-line description of the device and thread count for the start-up line.
    """
    gpus = tf.config.list_physical_devices('GPU')
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:   # already initialized: keep the existing setting
            pass
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    if gpus:
        return f"GPU ({', '.join(g.name for g in gpus)}), memory growth on"
    return f"CPU, {threads} threads"
