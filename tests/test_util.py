"""Image I/O round trips, linearization rules, bad inputs, crops and config loading."""

import cv2
import numpy as np
import pytest
import tifffile

import util

RNG = np.random.default_rng(1)


def rgb8(h=6, w=9):
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def rgb16(h=6, w=9):
    return RNG.integers(0, 65536, (h, w, 3), dtype=np.uint16)


def test_math_helpers():
    f = util.tanh_range(-2.0, 4.0, initial=3.0)
    assert abs(float(f(0.0)) - 3.0) < 1e-5
    assert abs(float(util.tanh_range(0.5, 2)(0.0)) - 1.25) < 1e-7
    assert float(util.tanh01(0.0)) == 0.5
    assert util.lerp(2.0, 4.0, 0.25) == 2.5
    np.testing.assert_allclose(util.lum(np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]], np.float32)),
                               [[1.0], [0.27]], rtol=1e-6)


@pytest.mark.parametrize('ext', ['.png', '.tif', '.tiff'])
def test_16bit_round_trip_keeps_depth(tmp_path, ext):
    data = rgb16()
    path = str(tmp_path / f'a{ext}')
    if ext == '.png':
        cv2.imwrite(path, data[..., ::-1])
    else:
        tifffile.imwrite(path, data)
    img = util.read_image(path)
    np.testing.assert_allclose(img, data / 65535.0, atol=1e-7)
    assert (np.round(img * 65535) % 257 != 0).any()     # not 8 bits scaled up (bug 10.1.12)


@pytest.mark.parametrize('ext', ['.png', '.tif', '.jpg'])
def test_8bit_read(tmp_path, ext):
    data = rgb8(32, 32) if ext != '.jpg' else np.full((32, 32, 3), (200, 100, 50), np.uint8)
    path = str(tmp_path / f'a{ext}')
    if ext == '.tif':
        tifffile.imwrite(path, data)
    else:
        cv2.imwrite(path, data[..., ::-1])
    img = util.read_image(path)
    assert img.dtype == np.float32 and img.shape == (32, 32, 3)
    np.testing.assert_allclose(img, data / 255.0, atol=0.02 if ext == '.jpg' else 1e-7)


def test_grayscale_and_rgba(tmp_path):
    grey = rgb8()[..., 0]
    cv2.imwrite(str(tmp_path / 'g.png'), grey)
    img = util.read_image(str(tmp_path / 'g.png'))
    assert img.shape == grey.shape + (3,)
    np.testing.assert_allclose(img[..., 2], grey / 255.0, atol=1e-7)
    rgba = np.dstack([rgb16(), np.full((6, 9), 65535, np.uint16)])
    tifffile.imwrite(str(tmp_path / 'a.tif'), rgba)
    np.testing.assert_allclose(util.read_image(str(tmp_path / 'a.tif')), rgba[..., :3] / 65535.0, atol=1e-7)
    cv2.imwrite(str(tmp_path / 'a.png'), np.dstack([rgb8()[..., ::-1], np.zeros((6, 9), np.uint8)]))
    assert util.read_image(str(tmp_path / 'a.png')).shape == (6, 9, 3)


@pytest.mark.parametrize('fmt, ext, bits', [('png', '.png', 8), ('png16', '.png', 16), ('tiff16', '.tif', 16)])
def test_write_round_trip(tmp_path, fmt, ext, bits):
    img = RNG.uniform(-0.2, 1.2, (5, 7, 3)).astype(np.float32)
    path = util.write_image(str(tmp_path / f'out{ext}'), img, fmt)
    back = util.read_image(path)
    levels = 2 ** bits - 1
    np.testing.assert_allclose(back, np.round(np.clip(img, 0, 1) * levels) / levels, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == [f'out{ext}']       # no temporary left behind


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    path = tmp_path / 'keep.png'
    util.write_image(str(path), np.zeros((2, 2, 3), np.float32))
    before = path.read_bytes()
    monkeypatch.setattr(cv2, 'imwrite', lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        util.write_image(str(path), np.ones((2, 2, 3), np.float32))
    assert path.read_bytes() == before and len(list(tmp_path.iterdir())) == 1


def test_linearization_rules(tmp_path):
    img = np.array([[[0.5, 0.25, 1.0]]], np.float32)
    np.testing.assert_allclose(util.linearize(img, 'prophoto'), img ** 1.8, rtol=1e-6)
    srgb = util.linearize(img, 'srgb')
    np.testing.assert_allclose(srgb, img ** 2.2 * 0.5, rtol=1e-5)        # max scaled to 0.5
    assert util.linearize(img, 'display') is img and util.linearize(img, 'linear') is img
    assert util.default_encoding('a.TIF') == 'prophoto' and util.default_encoding('a.jpg') == 'srgb'
    assert util.default_encoding('a.dng') == 'linear'
    with pytest.raises(ValueError, match='unknown colour encoding'):
        util.linearize(img, 'rec2020')
    tifffile.imwrite(str(tmp_path / 'x.tif'), np.full((2, 2, 3), 32768, np.uint16))
    np.testing.assert_allclose(util.load_linear(str(tmp_path / 'x.tif')), (32768 / 65535) ** 1.8, rtol=1e-5)


def bad_files(tmp_path):
    png = tmp_path / 'ok.png'
    cv2.imwrite(str(png), rgb8(64, 64))
    tif = tmp_path / 'ok.tif'
    tifffile.imwrite(str(tif), rgb16(64, 64))
    cases = {
        'missing': (tmp_path / 'nope.png', 'no such file'),
        'empty': (tmp_path / 'empty.jpg', 'empty file'),
        'truncated png': (tmp_path / 'trunc.png', 'cannot decode'),
        'truncated tiff': (tmp_path / 'trunc.tif', 'cannot read TIFF'),
        'text as jpeg': (tmp_path / 'text.jpg', 'cannot decode'),
        'unsupported': (tmp_path / 'doc.txt', 'unsupported file type'),
        'folder': (tmp_path, 'is a folder'),
        'nan tiff': (tmp_path / 'nan.tif', 'NaN'),
        'int32 tiff': (tmp_path / 'int.tif', 'unsupported sample type'),
    }
    (tmp_path / 'empty.jpg').write_bytes(b'')
    (tmp_path / 'trunc.png').write_bytes(png.read_bytes()[:100])
    (tmp_path / 'trunc.tif').write_bytes(tif.read_bytes()[:300])
    (tmp_path / 'text.jpg').write_text('hello')
    (tmp_path / 'doc.txt').write_text('hello')
    nan = np.full((4, 4, 3), 0.5, np.float32)
    nan[1, 1, 1] = np.nan
    tifffile.imwrite(str(tmp_path / 'nan.tif'), nan)
    tifffile.imwrite(str(tmp_path / 'int.tif'), np.zeros((4, 4, 3), np.int32))
    return cases


def test_bad_inputs_raise_one_error_type_naming_the_file(tmp_path):
    for what, (path, reason) in bad_files(tmp_path).items():
        with pytest.raises(util.ImageError) as e:
            util.read_image(str(path))
        assert str(path) in str(e.value) and reason in str(e.value), what


def test_list_images_expands_folders_and_globs(tmp_path):
    for name in ['b.png', 'a.tif', 'c.txt']:
        (tmp_path / name).write_bytes(b'x')
    assert util.list_images([str(tmp_path)]) == [str(tmp_path / 'a.tif'), str(tmp_path / 'b.png')]
    assert util.list_images([str(tmp_path / '*.png')]) == [str(tmp_path / 'b.png')]
    assert util.list_images([str(tmp_path / '*.jpg')]) == [str(tmp_path / '*.jpg')]   # reported later as missing


def test_crops():
    img = RNG.uniform(0, 1, (60, 100, 3)).astype(np.float32)
    sq = util.center_square(img)
    assert sq.shape == (60, 60, 3) and np.array_equal(sq, img[:, 20:80])
    crops = util.random_square_crops(img, 4, 80, np.random.default_rng(0))
    assert crops.shape == (4, 80, 80, 3) and crops.dtype == np.float32
    const = util.random_square_crops(np.full((50, 70, 3), 0.25, np.float32), 2, 20, np.random.default_rng(0))
    np.testing.assert_allclose(const, 0.25, atol=1e-6)


def test_load_config_and_overrides():
    cfg = util.load_config('example', ['--max_iter_step=200', '--batch_size=16', '--base_lr=1', '--seed=3'])
    assert (cfg.max_iter_step, cfg.batch_size, cfg.base_lr, cfg.seed) == (200, 16, 1.0, 3)
    assert cfg.config_name == 'example' and cfg.num_state_dim == 11 and len(cfg.filters) == 8
    assert util.load_config('example').max_iter_step == 20000          # fresh namespace each time
    sintel = util.load_config('sintel', ['--input_dir=/tmp/frames'])
    assert sintel.input_dir == '/tmp/frames' and sintel.input_kind == 'folder' and sintel.batch_size == 64
    with pytest.raises(SystemExit, match='Available configs: .*example.*sintel'):
        util.load_config('nonexistent')
    with pytest.raises(SystemExit, match='bad override'):
        util.load_config('example', ['--no_such_key=1'])
    with pytest.raises(SystemExit, match='must be int'):
        util.load_config('example', ['--batch_size=abc'])
    snapshot = util.config_to_dict(cfg)
    assert snapshot['filters'][0] == 'ExposureFilter' and snapshot['tone_curve_range'] == [0.5, 2]
