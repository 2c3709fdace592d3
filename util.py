"""Shared helpers: the small math of spec 3.1, atomic JSON, config loading and the numeric path.

Imports of the project only image_io's luminance weights (image files are image_io.py's).
"""
import ast
import glob
import importlib
import json
import os
import sys
import types

import numpy as np
import tensorflow as tf

import atomic
from image_io import LUM_WEIGHTS

# ----------------------------------------------------------------------------------------------
# Math helpers (spec 3.1)


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
# Files

def write_json(path, obj):
    """Writes obj as indented JSON atomically."""
    with atomic.atomic_write(path, 'w') as f:
        json.dump(obj, f, indent=1)


# ----------------------------------------------------------------------------------------------
# Configs: plain modules config_<name>.py next to this file

PROJECT_DIR = os.path.dirname(os.path.abspath(__file__))


def available_configs():
    return sorted(os.path.basename(p)[len('config_'):-3]
                  for p in glob.glob(os.path.join(PROJECT_DIR, 'config_*.py')))


def config_name(text):
    """'sintel', 'config_sintel' or 'config_sintel.py' (the file name, as a shell completes it) -> 'sintel'."""
    name = os.path.basename(text)
    name = name[:-3] if name.endswith('.py') else name
    return name[len('config_'):] if name.startswith('config_') else name


def model_dir(config, name, root='models'):
    """root/<config>/<name>, the folder of the model a command names. A name is a relative folder
    inside root/<config>/ ('mymodel', 'runs/a'): an empty or absolute name, a '..', or a link out of
    the folder is refused (ValueError), so that no command reads, lists or deletes anything else."""
    parent = os.path.join(root, config)
    if not name.strip():
        why = 'is empty'
    elif os.path.isabs(name):
        why = 'is an absolute path'
    elif '..' in name.replace(os.sep, '/').split('/'):
        why = "goes up with '..'"
    else:
        path = os.path.join(parent, os.path.normpath(name))
        real, real_parent = os.path.realpath(path), os.path.realpath(parent)
        if real == real_parent:
            why = f'names {parent}/ itself'
        elif os.path.commonpath([real, real_parent]) != real_parent:
            why = f'resolves to {real}, outside {parent}/'
        else:
            return path
    raise ValueError(f"model name {name!r} {why}: a model is a folder inside {parent}/, named like "
                     "'mymodel' or 'runs/mymodel'")


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


# Config values whose type varies: the values they accept.
CHOICES = {'mixed_precision': (True, False, 'auto'), 'reward': ('critic', 'paired')}


def checked_value(key, value, old):
    """value as config key takes it, whose config-file value is old (an int where a float belongs
    becomes a float, a list where a tuple belongs a tuple); ValueError saying why it cannot be."""
    if key in CHOICES:
        if value not in CHOICES[key]:
            raise ValueError(f"{key} must be one of {', '.join(map(repr, CHOICES[key]))}")
        return value
    if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(old, tuple) and isinstance(value, list):
        value = tuple(value)
    if old is not None and value is not None and not isinstance(value, type(old)) and key != 'filters':
        raise ValueError(f"{key} must be {type(old).__name__} (config value {old!r})")
    return value


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
        try:
            setattr(cfg, key, checked_value(key, value, getattr(cfg, key)))
        except ValueError as e:
            raise SystemExit(f"error: override {item!r}: {e}")
    return cfg


def load_snapshot(path, name=None):
    """The config a model was trained with: its config.json (config_to_dict) over the values of
    config_<name>.py (name: the snapshot's own config_name unless given). A damaged file (not JSON, a
    value of the wrong type, an unknown filter) is a ValueError naming it and the fix."""
    import filters      # here, not at the top: filters imports this module
    again = 'copy it again from where the model came from'
    try:
        with open(path, 'rb') as f:
            saved = json.loads(f.read())
    except ValueError as e:             # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path} is damaged (not JSON: {e}); {again}") from None
    if not isinstance(saved, dict) or not isinstance(name or saved.get('config_name'), str):
        raise ValueError(f"{path} is damaged (not a model's settings); {again}")
    cfg = load_config(name or saved['config_name'])
    for key, value in saved.items():
        try:
            setattr(cfg, key, checked_value(key, value, getattr(cfg, key, None)))
        except ValueError as e:
            raise ValueError(f"{path} is damaged: {e}, not {value!r}; correct it, or {again}") from None
    names = cfg.filters if isinstance(cfg.filters, (list, tuple)) else [cfg.filters]
    unknown = [f for f in names if not isinstance(f, type) and not (isinstance(f, str) and f in filters.FILTERS)]
    if unknown:
        raise ValueError(f"{path} is damaged: unknown filter {unknown[0]!r} (known filters: "
                         f"{', '.join(filters.FILTERS)}); correct it, or {again}")
    return cfg


def config_to_dict(cfg):
    """JSON-ready snapshot of a config; filter classes are stored by name."""
    out = {}
    for k, v in vars(cfg).items():
        if k == 'filters':
            v = [f if isinstance(f, str) else f.__name__ for f in v]
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


# Why bfloat16 was or was not chosen, for the log (filled by compute_dtype on first use).
PRECISION_REASONS = {}


def compute_dtype(mixed_precision):
    """The dtype of convolutions and matrix products for a config's `mixed_precision` setting.

    True: bfloat16; False: float32; 'auto': bfloat16 only where it runs faster here. A CPU without
    bfloat16 matrix units (no AMX, no AVX512-BF16) emulates it and runs it about half as fast as
    float32, so there 'auto' picks float32 without measuring; otherwise (such a CPU, or a GPU) a
    short matrix-product race decides. EXPOSURE_PRECISION=bfloat16|float32 forces the outcome.
    """
    if mixed_precision != 'auto':
        return tf.bfloat16 if mixed_precision else tf.float32
    if 'auto' not in PRECISION_REASONS:
        forced = os.environ.get('EXPOSURE_PRECISION')
        if forced:
            if forced not in ('bfloat16', 'float32'):
                raise SystemExit(f"error: EXPOSURE_PRECISION={forced!r}: use bfloat16 or float32")
            PRECISION_REASONS['auto'] = (forced, 'forced by EXPOSURE_PRECISION')
        elif not tf.config.list_physical_devices('GPU') and not cpu_has_bfloat16_units():
            PRECISION_REASONS['auto'] = ('float32', 'this CPU has no bfloat16 matrix units '
                                                    '(AMX or AVX512-BF16), so bfloat16 would be emulated')
        else:
            gflops = {d: matmul_gflops(d) for d in ('float32', 'bfloat16')}
            pick = 'bfloat16' if gflops['bfloat16'] > 1.2 * gflops['float32'] else 'float32'
            PRECISION_REASONS['auto'] = (pick, f"matrix products: bfloat16 {gflops['bfloat16']:.0f} "
                                               f"GFLOPS, float32 {gflops['float32']:.0f}")
    return tf.bfloat16 if PRECISION_REASONS['auto'][0] == 'bfloat16' else tf.float32


def precision_description(mixed_precision):
    """One line for the log: which precision trains and why."""
    name = compute_dtype(mixed_precision).name
    if mixed_precision != 'auto':
        return f"{name} (mixed_precision={mixed_precision})"
    return f"{name} (mixed_precision='auto': {PRECISION_REASONS['auto'][1]})"


def cpu_info(field, cpuinfo='/proc/cpuinfo'):
    """The value of the first line of /proc/cpuinfo starting with `field` (a string or tuple), or ''."""
    try:
        with open(cpuinfo) as f:
            line = next((line for line in f if line.startswith(field)), '')
    except OSError:
        line = ''
    return line.partition(':')[2].strip()


def cpu_has_bfloat16_units(cpuinfo='/proc/cpuinfo'):
    """True when the CPU flags list AMX-BF16 or AVX512-BF16 (or cannot be read: then measure)."""
    flags = cpu_info(('flags', 'Features'), cpuinfo).split()
    return not flags or 'amx_bf16' in flags or 'avx512_bf16' in flags


def matmul_gflops(dtype, n=1024, seconds=0.3):
    """Throughput of an n x n matrix product in `dtype` on this machine (a short measurement)."""
    import time
    a = tf.random.uniform((n, n), dtype=tf.float32)
    a = tf.cast(a, dtype)
    product = tf.function(lambda x: tf.reduce_sum(tf.cast(tf.matmul(x, x), tf.float32)))
    product(a).numpy()   # trace and warm up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        product(a).numpy()
        count += 1
    return 2 * n ** 3 * count / (time.perf_counter() - start) / 1e9


def configure_tensorflow():
    """Uses a GPU when TensorFlow sees one (memory growth on, no fixed fraction), else the CPU.

    Returns a one-line description of the device, the CPU model and thread count for the start-up line
    (a long run spans machines: its log says which iterations ran on which).
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
    return f"CPU ({cpu_name()}), {threads} threads"


# The vector units that decide training speed here, widest first: hosts sold under one model name
# ('AMD EPYC') differ in them by a factor of three.
VECTOR_UNITS = (('amx_bf16', 'AMX'), ('avx512_bf16', 'AVX512-BF16'), ('avx512f', 'AVX-512'), ('avx2', 'AVX2'))


def cpu_name(cpuinfo='/proc/cpuinfo'):
    """The CPU's model name and vector units ('AMD EPYC with AVX512-BF16, AVX-512, AVX2'), or the
    platform's processor string where /proc/cpuinfo does not say."""
    import platform
    name = cpu_info('model name', cpuinfo) or platform.processor() or 'unknown CPU'
    flags = cpu_info(('flags', 'Features'), cpuinfo).split()
    units = [unit for flag, unit in VECTOR_UNITS if flag in flags]
    return f"{name} with {', '.join(units)}" if units else name
