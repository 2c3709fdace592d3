"""Camera RAW input through LibRaw (rawpy): decoded to linear 16-bit, then treated like linear TIFF.
Uses the real Kodak DC50 file in ../shared/data when present; a fresh clone skips these tests."""
import os
import shutil

import numpy as np
import pytest

import configurator
import image_io
from conftest import SHARED_DATA

KDC = os.path.join(SHARED_DATA, 'raw', 'RAW_KODAK_DC50.KDC')
needs_raw = pytest.mark.skipif(not os.path.exists(KDC), reason='../shared/data/raw is absent')


@needs_raw
def test_raw_decodes_to_linear_rgb():
    img = image_io.read_image(KDC)
    assert img.shape == (512, 768, 3) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0 and 0.01 < img.mean() < 0.9
    # 16-bit linear output: far more levels than an 8-bit gamma-encoded decode would give
    assert len(np.unique(np.round(img[..., 1] * 65535))) > 256
    assert image_io.default_encoding(KDC) == 'linear'
    assert image_io.load_linear(KDC) is not None


@needs_raw
def test_raw_in_a_folder_dataset(tmp_path):
    import data
    folder = tmp_path / 'raws'
    folder.mkdir()
    shutil.copy(KDC, folder / 'a.kdc')
    cfg = configurator.load_config('sintel', [f'--input_dir={folder}', '--input_encoding=linear', '--val_fraction=0.0'])
    provider = data.make_provider(cfg, 'input', 'train', seed=0)
    assert len(provider) == 4 and provider.next_batch(2).shape == (2, 64, 64, 3)


def test_corrupt_raw_is_a_clear_error(tmp_path):
    bad = tmp_path / 'broken.nef'
    bad.write_bytes(b'not a raw file at all' * 10)
    with pytest.raises(image_io.ImageError, match='broken.nef.*(cannot decode camera RAW|rawpy)'):
        image_io.read_image(str(bad))


@needs_raw
def test_raw_for_a_display_encoded_model_is_developed_with_the_srgb_curve():
    """A display-encoded model (config_photos) sees JPEG-like values: evaluate.py develops RAW for it
    with the sRGB curve; a linear model keeps linear RAW."""
    import develop
    linear = develop.read_input(KDC, 'auto')
    shown = develop.read_input(KDC, 'display')
    assert linear.encoding == 'linear' and shown.encoding == 'display'
    lin, srgb = image_io.to_float(linear.samples), image_io.to_float(shown.samples)
    assert srgb.mean() > 2 * lin.mean()
    kept = shown.samples
    shown.samples = None            # a big photo's samples are let go and read again for development
    np.testing.assert_array_equal(shown.load(), kept)
    # the same development, up to LibRaw's 16-bit rounding and its curve's toe
    np.testing.assert_allclose(srgb, image_io.linear_to_srgb(lin), atol=0.02)
    assert image_io.raw_curve('srgb') == 'srgb' and image_io.raw_curve('prophoto') == image_io.raw_curve('linear') == 'linear'
