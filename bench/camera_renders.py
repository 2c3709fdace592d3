"""Exposure errors rendered from scene light, as a raw converter renders them: the references of
bench/degradation_vs_rawpy.py and bench/exposure_errors.py's scene-linear validation.

A scene-linear photo (a RAW decoded by LibRaw, or a linear 16-bit TIFF such as FiveK's) is auto-exposed
once (its log-average luminance, the scene's "key", brought to middle grey 0.18, as a camera's average
metering does; not by the rendered mean, which is the model-free gain baseline's own criterion), then
rendered at every EV through a camera curve (data.camera_curve) that sees the scene's real highlights
above display white; the 0 EV render is the reference a correction is scored against.
"""
import os
import sys

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [PROJECT_DIR]

import numpy as np  # noqa: E402
import rawpy  # noqa: E402
import tifffile  # noqa: E402

import data  # noqa: E402
import image_io  # noqa: E402
import util  # noqa: E402

# Linear ProPhoto RGB (D50) -> linear sRGB (D65): ProPhoto to XYZ, Bradford D50 -> D65, XYZ to sRGB.
PROPHOTO_TO_XYZ = np.array([[0.7976749, 0.1351917, 0.0313534], [0.2880402, 0.7118741, 0.0000857],
                            [0.0, 0.0, 0.8252100]])
BRADFORD_D50_TO_D65 = np.array([[0.9555766, -0.0230393, 0.0631636], [-0.0282895, 1.0099416, 0.0210077],
                                [0.0122982, -0.0204830, 1.3299098]])
XYZ_TO_SRGB = np.array([[3.2404542, -1.5371385, -0.4985314], [-0.9692660, 1.8760108, 0.0415560],
                        [0.0556434, -0.2040259, 1.0572252]])
PROPHOTO_TO_SRGB = (XYZ_TO_SRGB @ BRADFORD_D50_TO_D65 @ PROPHOTO_TO_XYZ).astype(np.float32)
MIDDLE_GREY = 0.18


def read_linear_tiff(path):
    """A 16-bit linear ProPhoto TIFF (FiveK's linear exports) as linear sRGB-primaries scene light
    (colours outside sRGB clipped at 0)."""
    arr = tifffile.imread(path)
    if arr.dtype != np.uint16 or arr.ndim != 3:
        raise ValueError(f"{path}: expected a 16-bit RGB linear TIFF, got {arr.dtype} {arr.shape}")
    return np.maximum(arr[..., :3].astype(np.float32) / 65535 @ PROPHOTO_TO_SRGB.T, 0.0)


def read_raw_linear(path):
    """A camera RAW as linear sRGB-primaries scene light (LibRaw: camera white balance, no
    auto-brightness), values relative to the sensor's white level."""
    with rawpy.imread(path) as raw:
        return raw.postprocess(use_camera_wb=True, no_auto_bright=True, gamma=(1, 1), output_bps=16,
                               output_color=rawpy.ColorSpace.sRGB).astype(np.float32) / 65535


def render(linear, ev, curve):
    """Scene light x 2^ev through the camera curve, to 8-bit sRGB values in [0, 1]."""
    shown = data.camera_curve(linear * np.float32(2.0 ** ev), **curve)
    return np.round(image_io.linear_to_srgb(shown) * 255) / np.float32(255)


def auto_exposure(linear, key=MIDDLE_GREY):
    """The scene light scaled so that its log-average luminance is `key` (Reinhard et al.'s key value)."""
    luminance = linear @ np.array(util.LUM_WEIGHTS, np.float32)
    return linear * np.float32(key / np.exp(np.mean(np.log(luminance + 1e-4))))


def rawpy_render(path, ev, preserve_highlights=1.0):
    """LibRaw's own exposure shift of a RAW (linear scale 2^ev before its sRGB curve; for brightening,
    exp_preserve_highlights rolls the highlights off instead of clipping them), 8-bit sRGB values."""
    with rawpy.imread(path) as raw:
        out = raw.postprocess(use_camera_wb=True, no_auto_bright=True, gamma=(2.4, 12.92), output_bps=16,
                              exp_shift=2.0 ** ev, exp_preserve_highlights=preserve_highlights,
                              output_color=rawpy.ColorSpace.sRGB)
    return np.round(out.astype(np.float32) / 65535 * 255) / np.float32(255)
