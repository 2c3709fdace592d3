"""Transparent photos (RGBA PNG and TIFF, 8 and 16-bit), built here: the colours a file stores under
fully transparent pixels (black, white, left-overs of an editor) never change what the agent sees or
its seed; results that can hold an alpha channel keep it; JPEG results are composited on white, with
a note. All images are tiny; runs re-apply a recipe (no network).
"""
import io
import json

import cv2
import numpy as np
import pytest
import tifffile

import develop
import evaluate
import image_io

H, W = 300, 320     # over 4 x 64: the agent's view is made of a few rows and columns (develop._shrink)


def rgba(dtype, hidden, seed=0):
    """A photo whose right part is fully transparent, storing `hidden` there, with a band of partial
    transparency between; -> (RGB, alpha) as stored."""
    full = np.iinfo(dtype).max
    rng = np.random.default_rng(seed)
    rgb = np.round(rng.uniform(0.1, 0.6, (H, W, 3)) * full).astype(dtype)
    alpha = np.full((H, W), full, dtype)
    alpha[:, 160:200] = np.linspace(full, 0, 40).astype(dtype)
    alpha[:, 200:] = 0
    rgb[:, 200:] = {'black': 0, 'white': full}.get(hidden, 0) if hidden != 'noise' else \
        rng.integers(0, full, (H, W - 200, 3), dtype)
    return rgb, alpha


def encode(ext, rgb, alpha, extrasamples=(2,)):
    if ext == '.tif':
        buf = io.BytesIO()
        tifffile.imwrite(buf, np.dstack([rgb, alpha]), photometric='rgb', extrasamples=extrasamples)
        return buf.getvalue()
    return cv2.imencode(ext, np.dstack([rgb[..., ::-1], alpha]))[1].tobytes()


@pytest.mark.parametrize('ext,dtype', [('.png', np.uint8), ('.png', np.uint16), ('.tif', np.uint8),
                                       ('.tif', np.uint16)])
def test_hidden_colours_change_nothing_the_agent_sees(tmp_path, ext, dtype):
    seen = []
    for hidden in ('black', 'white', 'noise'):
        path = tmp_path / f'{hidden}{ext}'
        path.write_bytes(encode(ext, *rgba(dtype, hidden)))
        photo = develop.read_input(str(path), 'auto')
        assert photo.alpha is not None and photo.alpha.dtype == dtype
        seen.append((photo.peak, develop.low_res_view(photo), develop.photo_seed(7, photo.samples, photo.alpha)))
    for peak, view, seed in seen[1:]:
        assert peak == seen[0][0] and seed == seen[0][2]
        np.testing.assert_array_equal(view, seen[0][1])
    view = seen[0][1]
    assert np.ptp(view[:, -10:], axis=-1).max() < 1e-6      # fully transparent: a neutral grey


def test_associated_alpha_tiff_is_read_as_its_colours(tmp_path):
    rgb, alpha = rgba(np.uint16, 'black')
    premultiplied = np.round(rgb * (alpha[..., None] / 65535.0)).astype(np.uint16)
    path = tmp_path / 'gimp.tif'
    path.write_bytes(encode('.tif', premultiplied, alpha, extrasamples=(1,)))
    colour, read_alpha = image_io.read_photo(str(path))
    np.testing.assert_array_equal(read_alpha, alpha)
    visible = alpha > 2000
    assert np.abs(colour[visible].astype(int) - rgb[visible]).max() <= 40     # 16-bit levels


def test_opaque_alpha_channel_is_no_alpha(tmp_path):
    rgb, alpha = rgba(np.uint8, 'black')
    path = tmp_path / 'opaque.png'
    path.write_bytes(encode('.png', rgb, np.full_like(alpha, 255)))
    assert image_io.read_photo(str(path))[1] is None


def test_a_fully_transparent_photo_is_refused(tmp_path):
    rgb, alpha = rgba(np.uint8, 'black')
    path = tmp_path / 'empty.png'
    path.write_bytes(encode('.png', rgb, np.zeros_like(alpha)))
    with pytest.raises(image_io.ImageError, match='fully transparent'):
        develop.read_input(str(path), 'auto')


def hdr_with_alpha(path, rgb, alpha):
    """An HDR (PQ) 10-bit AVIF or HEIC (by path's extension) of 10-bit RGB and alpha samples: AVIF
    through imagecodecs; HEIC through pillow-heif (which writes sRGB's transfer: its nclx box is made
    PQ's), or None when that encoder is missing."""
    samples = np.dstack([rgb, alpha])
    if path.suffix == '.avif':
        imagecodecs = pytest.importorskip('imagecodecs')
        if not imagecodecs.AVIF.available:
            return None
        path.write_bytes(imagecodecs.avif_encode(samples, level=100, bitspersample=10, transfer=16))
        return str(path)
    pillow_heif = pytest.importorskip('pillow_heif')
    heif = pillow_heif.from_bytes('RGBA;16', samples.shape[1::-1], (samples << 6).tobytes())
    heif.save(str(path), quality=-1, chroma=444, matrix_coefficients=0)
    data = path.read_bytes()
    at = data.index(b'nclx') + 6            # colour primaries, then the transfer characteristics
    path.write_bytes(data[:at] + (16).to_bytes(2, 'big') + data[at + 2:])
    return str(path)


@pytest.mark.parametrize('ext', ['.avif', '.heic'])
def test_hdr_heic_and_avif_keep_their_alpha_channel(tmp_path, ext, capsys):
    """Tone mapped to SDR as they are read (image_io.hdr_to_sdr), their alpha kept at 16 bits, as is."""
    rgb, alpha = (x >> 6 for x in rgba(np.uint16, 'white'))        # 10-bit samples
    path = hdr_with_alpha(tmp_path / f'hdr{ext}', rgb, alpha)
    if path is None:
        pytest.skip(f'no {ext} encoder here')
    colour, read_alpha = image_io.read_photo(path)
    assert f'{path}: an HDR ' in capsys.readouterr().out
    np.testing.assert_array_equal(read_alpha, alpha << 6 | alpha >> 4)          # 1023 -> 65535
    opaque = image_io.read_photo(hdr_with_alpha(tmp_path / f'opaque{ext}', rgb, np.full_like(alpha, 1023)))
    assert opaque[1] is None and colour.dtype == np.uint16
    np.testing.assert_array_equal(colour, opaque[0])                # the colours as without the alpha


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / 'edit.steps.json'
    path.write_text(json.dumps({'version': 1, 'input_encoding': 'srgb', 'steps': [
        {'class': 'ExposureFilter', 'parameters': [0.5]}, {'class': 'ContrastFilter', 'parameters': [0.3]}]}))
    return str(path)


@pytest.mark.parametrize('fmt', ['png', 'png16', 'tiff16'])
def test_results_keep_the_alpha_channel(tmp_path, recipe, fmt):
    rgb, alpha = rgba(np.uint16, 'noise')
    photo = tmp_path / 'in' / 'cutout.png'
    photo.parent.mkdir()
    photo.write_bytes(encode('.png', rgb, alpha))
    out = tmp_path / 'out'
    assert evaluate.main(['--recipe', recipe, str(photo), '--output-dir', str(out), '--format', fmt]) == 0
    result = image_io.read_photo(str(out / f'cutout.png.retouched.{"tif" if fmt == "tiff16" else "png"}'))[1]
    expected = alpha if fmt != 'png' else np.round(alpha / 257).astype(np.uint8)
    np.testing.assert_array_equal(result, expected)
    for name in ('linear', 'input_tone_mapped', 'intermediate00'):       # 8-bit PNGs
        np.testing.assert_array_equal(image_io.read_photo(str(out / f'cutout.png.{name}.png'))[1],
                                      np.round(alpha / 257).astype(np.uint8))


def test_jpeg_results_are_composited_on_white_with_a_note(tmp_path, recipe, capsys):
    rgb, alpha = rgba(np.uint8, 'black')
    photo = tmp_path / 'cutout.png'
    photo.write_bytes(encode('.png', rgb, alpha))
    out = tmp_path / 'out'
    assert evaluate.main(['--recipe', recipe, str(photo), '--output-dir', str(out), '--format', 'jpeg',
                          '--no-intermediates']) == 0
    result, result_alpha = image_io.read_photo(str(out / 'cutout.png.retouched.jpg'))
    assert result_alpha is None and result[:, 210:].min() >= 250      # white where it was transparent
    assert 'composited on white' in capsys.readouterr().out
