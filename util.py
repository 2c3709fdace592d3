"""Shared TensorFlow helpers: the small math of spec 3.1 and the numeric path (precision, device).

Imports of the project only image_io's luminance weights (image files are image_io.py's). Config
loading is configurator.py's, which does not import TensorFlow.
"""
import os
import platform
import time

import numpy as np
import tensorflow as tf

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
    name = cpu_info('model name', cpuinfo) or platform.processor() or 'unknown CPU'
    flags = cpu_info(('flags', 'Features'), cpuinfo).split()
    units = [unit for flag, unit in VECTOR_UNITS if flag in flags]
    return f"{name} with {', '.join(units)}" if units else name
