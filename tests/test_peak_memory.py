"""Memory per pixel of one photo through evaluate.py (a recipe: no network), as numpy and Python
allocate it (tracemalloc; TensorFlow's own buffers are not counted). What a photo at image_io's size
limit needs is this per-pixel figure times its pixels (bench/peak_memory.py measures the whole
process); it must stay small enough for that to fit in 16 GB.
"""
import json
import tracemalloc

import cv2
import numpy as np

import evaluate

H, W = 1000, 1200
RECIPE = {'version': 1, 'input_encoding': 'srgb', 'steps': [
    {'class': c, 'parameters': p} for c, p in [
        ('ExposureFilter', [0.5]), ('GammaFilter', [0.8]), ('ImprovedWhiteBalanceFilter', [0.95, 1.02, 0.98]),
        ('SaturationPlusFilter', [0.3]), ('ContrastFilter', [0.4])]]}


def test_a_photo_with_intermediates_peaks_under_32_bytes_a_pixel(tmp_path):
    """8-bit input and results: the photo (3 bytes a pixel) and its seven 8-bit images (21) are the
    floor; copies on top of them (a second set of chunks waiting, encoded files joined with their
    metadata, the step after the last) used to make it 40."""
    rng = np.random.default_rng(0)
    photo = (rng.random((H, W, 3)) * 40 + np.linspace(0, 200, W)[None, :, None]).astype(np.uint8)
    cv2.imwrite(str(tmp_path / 'photo.png'), photo)
    recipe = tmp_path / 'edit.steps.json'
    recipe.write_text(json.dumps(RECIPE))
    argv = ['--recipe', str(recipe), str(tmp_path / 'photo.png'), '--output-dir']
    assert evaluate.main(argv + [str(tmp_path / 'warm')]) == 0         # imports and caches first
    tracemalloc.start()
    try:
        assert evaluate.main(argv + [str(tmp_path / 'out')]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak / (H * W) < 32, peak / (H * W)
