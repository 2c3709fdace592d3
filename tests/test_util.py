"""Image I/O round trips, linearization rules, bad inputs, orientation, metadata, output errors,
crops and config loading."""

import errno
import io
import os
import stat

import cv2
import numpy as np
import pytest
import tifffile

import atomic
import configurator
import containers
import image_io
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
    img = image_io.read_image(path)
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
    img = image_io.read_image(path)
    assert img.dtype == np.float32 and img.shape == (32, 32, 3)
    np.testing.assert_allclose(img, data / 255.0, atol=0.02 if ext == '.jpg' else 1e-7)


def test_grayscale_and_rgba(tmp_path):
    grey = rgb8()[..., 0]
    cv2.imwrite(str(tmp_path / 'g.png'), grey)
    img = image_io.read_image(str(tmp_path / 'g.png'))
    assert img.shape == grey.shape + (3,)
    np.testing.assert_allclose(img[..., 2], grey / 255.0, atol=1e-7)
    rgba = np.dstack([rgb16(), np.full((6, 9), 65535, np.uint16)])
    tifffile.imwrite(str(tmp_path / 'a.tif'), rgba)
    np.testing.assert_allclose(image_io.read_image(str(tmp_path / 'a.tif')), rgba[..., :3] / 65535.0, atol=1e-7)
    cv2.imwrite(str(tmp_path / 'a.png'), np.dstack([rgb8()[..., ::-1], np.zeros((6, 9), np.uint8)]))
    assert image_io.read_image(str(tmp_path / 'a.png')).shape == (6, 9, 3)


@pytest.mark.parametrize('compression', ['lzw', 'zlib', 'packbits'])
def test_compressed_tiffs_as_editors_export_them(tmp_path, compression):
    # Lightroom and Photoshop offer LZW and ZIP; tifffile decodes them through imagecodecs.
    samples = rgb16(40, 30)
    tifffile.imwrite(str(tmp_path / 'c.tif'), samples, photometric='rgb', compression=compression)
    np.testing.assert_allclose(image_io.read_image(str(tmp_path / 'c.tif')), samples / 65535.0, atol=1e-7)


def test_jpeg_compressed_tiff_is_decoded_to_rgb(tmp_path):
    y, x = np.mgrid[0:32, 0:48] / 48.0
    smooth = (np.stack([x, y, 1 - x], axis=-1) * 255).astype(np.uint8)
    tifffile.imwrite(str(tmp_path / 'j.tif'), smooth, photometric='rgb', compression='jpeg')   # YCbCr inside
    assert np.abs(image_io.read_image(str(tmp_path / 'j.tif')) - smooth / 255.0).mean() < 0.01


def test_palette_and_white_is_zero_tiffs_show_their_colours(tmp_path):
    index = RNG.integers(0, 256, (6, 9), dtype=np.uint8)
    colormap = RNG.integers(0, 65536, (3, 256), dtype=np.uint16)
    tifffile.imwrite(str(tmp_path / 'p.tif'), index, photometric='palette', colormap=colormap)
    np.testing.assert_allclose(image_io.read_image(str(tmp_path / 'p.tif')),
                               np.moveaxis(colormap[:, index], 0, -1) / 65535.0, atol=1e-7)
    tifffile.imwrite(str(tmp_path / 'w.tif'), index, photometric='miniswhite')
    np.testing.assert_allclose(image_io.read_image(str(tmp_path / 'w.tif'))[..., 1], (255 - index) / 255.0, atol=1e-7)


@pytest.mark.parametrize('photometric, name', [('separated', 'CMYK'), ('cielab', 'CIELAB')])
def test_tiffs_whose_colours_need_a_profile_are_refused(tmp_path, photometric, name):
    samples = RNG.integers(0, 256, (6, 9, 4 if photometric == 'separated' else 3), dtype=np.uint8)
    tifffile.imwrite(str(tmp_path / 'x.tif'), samples, photometric=photometric)
    with pytest.raises(image_io.ImageError, match=f'x.tif: {name}.*export or convert it as an RGB'):
        image_io.read_image(str(tmp_path / 'x.tif'))


@pytest.mark.parametrize('fmt, ext, bits', [('png', '.png', 8), ('png16', '.png', 16), ('tiff16', '.tif', 16)])
def test_write_round_trip(tmp_path, fmt, ext, bits):
    img = RNG.uniform(-0.2, 1.2, (5, 7, 3)).astype(np.float32)
    path = image_io.write_image(str(tmp_path / f'out{ext}'), img, fmt)
    back = image_io.read_image(path)
    levels = 2 ** bits - 1
    np.testing.assert_allclose(back, np.round(np.clip(img, 0, 1) * levels) / levels, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == [f'out{ext}']       # no temporary left behind


def test_jpeg_results_are_quality_95_without_chroma_subsampling(tmp_path):
    img = smooth8(64, 96).astype(np.float32) / 255
    img[8:24, 8:24] = [1.0, 0.0, 0.0]                 # a sharp colour edge: 4:2:0 would blur it
    for name in ('by_extension.jpeg', 'given.jpg'):
        path = image_io.write_image(str(tmp_path / name), img, None if name.endswith('jpeg') else 'jpeg')
        assert open(path, 'rb').read(3) == b'\xff\xd8\xff'
        back = image_io.read_image(path)
        assert 10 * np.log10(1 / np.mean((back - img) ** 2)) > 40
    from PIL import Image
    with Image.open(path) as jpeg:
        assert [c[1:3] for c in jpeg.layer] == [(1, 1)] * 3      # every channel sampled at full resolution


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    path = tmp_path / 'keep.png'
    image_io.write_image(str(path), np.zeros((2, 2, 3), np.float32))
    before = path.read_bytes()
    monkeypatch.setattr(cv2, 'imencode', lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        image_io.write_image(str(path), np.ones((2, 2, 3), np.float32))
    assert path.read_bytes() == before and len(list(tmp_path.iterdir())) == 1


def test_linearization_rules(tmp_path):
    img = np.array([[[0.5, 0.25, 1.0]]], np.float32)
    np.testing.assert_allclose(image_io.linearize(img, 'prophoto'), img ** 1.8, rtol=1e-6)
    srgb = image_io.linearize(img, 'srgb')
    np.testing.assert_allclose(srgb, img ** 2.2 * 0.5, rtol=1e-5)        # max scaled to 0.5
    assert image_io.linearize(img, 'display') is img and image_io.linearize(img, 'linear') is img
    assert image_io.default_encoding('a.TIF') == 'prophoto' and image_io.default_encoding('a.jpg') == 'srgb'
    assert image_io.default_encoding('a.dng') == 'linear'
    assert image_io.default_encoding('a.webp') == image_io.default_encoding('IMG_1.HEIC') == 'srgb'
    with pytest.raises(ValueError, match='unknown colour encoding'):
        image_io.linearize(img, 'rec2020')
    tifffile.imwrite(str(tmp_path / 'x.tif'), np.full((2, 2, 3), 32768, np.uint16))
    np.testing.assert_allclose(image_io.load_linear(str(tmp_path / 'x.tif')), (32768 / 65535) ** 1.8, rtol=1e-5)


def bad_files(tmp_path):
    png = tmp_path / 'ok.png'
    cv2.imwrite(str(png), rgb8(64, 64))
    tif = tmp_path / 'ok.tif'
    tifffile.imwrite(str(tif), rgb16(64, 64))
    cases = {
        'missing': (tmp_path / 'nope.png', 'no such file'),
        'empty': (tmp_path / 'empty.jpg', 'empty file'),
        'truncated png': (tmp_path / 'trunc.png', 'truncated or corrupt PNG'),
        'truncated tiff': (tmp_path / 'trunc.tif', 'truncated or corrupt TIFF'),
        'text as jpeg': (tmp_path / 'text.jpg', 'cannot decode'),
        'unsupported': (tmp_path / 'doc.txt', 'unsupported file type .txt; convert it to JPEG, PNG or TIFF first'),
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
        with pytest.raises(image_io.ImageError) as e:
            image_io.read_image(str(path))
        assert str(path) in str(e.value) and reason in str(e.value), what


def test_list_images_expands_folders_and_globs(tmp_path):
    for name in ['b.png', 'a.tif', 'c.txt', 'd.webp', 'e.heic', 'F.HEIC', 'g.heif', 'h.avif']:
        (tmp_path / name).write_bytes(b'x')
    assert image_io.list_images([str(tmp_path)]) == [str(tmp_path / n) for n in
                                                     ['F.HEIC', 'a.tif', 'b.png', 'd.webp', 'e.heic', 'g.heif',
                                                      'h.avif']]
    assert image_io.list_images([str(tmp_path / '*.png')]) == [str(tmp_path / 'b.png')]
    assert image_io.list_images([str(tmp_path / '*.jpg')]) == [str(tmp_path / '*.jpg')]   # reported later as missing


# ----------------------------------------------------------------------------------------------
# Truncated, corrupt and lying files

def smooth8(h=48, w=64):
    """A smooth 8-bit image: JPEG codes it in several blocks of real data."""
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 255 // w, y * 255 // h, (x + y) * 255 // (h + w)]).astype(np.uint8)


def encoded(ext, img, *params):
    ok, data = cv2.imencode(ext, img[..., ::-1], list(params))
    assert ok
    return data.tobytes()


def _write(path, data):
    path.write_bytes(data)
    return str(path)


def png_with_header(width, height, depth=8):
    """A PNG whose header claims width x height pixels, with a few bytes of image data."""
    import struct
    import zlib
    header = struct.pack('>IIBBBBB', width, height, depth, 2, 0, 0, 0)
    return (containers.PNG_SIGNATURE + containers.png_chunk(b'IHDR', header)
            + containers.png_chunk(b'IDAT', zlib.compress(b'\0' * 64)) + containers.png_chunk(b'IEND', b''))


COMPLETE = {   # name -> (extension, encoded bytes)
    'baseline jpeg': ('.jpg', encoded('.jpg', smooth8())),
    'progressive jpeg': ('.jpg', encoded('.jpg', smooth8(), cv2.IMWRITE_JPEG_PROGRESSIVE, 1)),
    'png': ('.png', encoded('.png', smooth8())),
    'png16': ('.png', encoded('.png', smooth8().astype(np.uint16) * 257)),
}


@pytest.mark.parametrize('name', COMPLETE)
def test_complete_files_read_exactly_as_opencv_decodes_them(tmp_path, name):
    ext, data = COMPLETE[name]
    path = tmp_path / f'ok{ext}'
    path.write_bytes(data)
    expected = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]
    samples = image_io.read_samples(str(path))
    assert samples.dtype == expected.dtype and np.array_equal(samples, expected)


@pytest.mark.parametrize('name', COMPLETE)
@pytest.mark.parametrize('keep', [0.2, 0.5, 0.9, 0.99, -2])
def test_truncated_files_are_named_errors(tmp_path, name, keep):
    # OpenCV's imread fills a cut-off JPEG with grey, libjpeg only prints "Premature end of JPEG file".
    ext, data = COMPLETE[name]
    cut = data[:keep] if keep < 0 else data[:int(len(data) * keep)]
    for label, content in (('cut', cut), ('zero-padded', cut.ljust(len(data), b'\0'))):
        path = tmp_path / f'{label}{ext}'
        path.write_bytes(content)
        with pytest.raises(image_io.ImageError, match='truncated or corrupt .*re-export or re-copy it') as e:
            image_io.read_samples(str(path))
        assert str(path) in str(e.value), label


def test_truncated_jpeg_with_a_complete_thumbnail_inside_is_an_error(tmp_path):
    # The EXIF block may hold a thumbnail, itself a whole JPEG with its own end marker.
    data = COMPLETE['baseline jpeg'][1]
    thumbnail = encoded('.jpg', smooth8(8, 8))
    app1 = b'Exif\x00\x00' + thumbnail
    with_thumbnail = data[:2] + b'\xff\xe1' + (len(app1) + 2).to_bytes(2, 'big') + app1 + data[2:]
    (tmp_path / 'whole.jpg').write_bytes(with_thumbnail)
    np.testing.assert_array_equal(image_io.read_samples(str(tmp_path / 'whole.jpg')),
                                  image_io.read_samples(_write(tmp_path / 'plain.jpg', data)))
    (tmp_path / 'cut.jpg').write_bytes(with_thumbnail[:-len(data) // 3])
    with pytest.raises(image_io.ImageError, match='cut.jpg: truncated or corrupt JPEG'):
        image_io.read_samples(str(tmp_path / 'cut.jpg'))


@pytest.mark.parametrize('width, height', [(100_000, 100_000), (30_000, 20_000)])
def test_lying_png_header_is_refused_before_decoding(tmp_path, width, height):
    path = _write(tmp_path / 'huge.png', png_with_header(width, height))
    message = (f'huge.png: image too large \\({width}x{height}: .* megapixels, over the limit of 400, which '
               'retouching fits in 16 GB of memory\\); downscale')
    with pytest.raises(image_io.ImageError, match=message):
        image_io.read_samples(path)


def test_lying_jpeg_header_is_refused_before_decoding(tmp_path):
    data = bytearray(COMPLETE['baseline jpeg'][1])
    sof = data.index(b'\xff\xc0')
    data[sof + 5:sof + 9] = (60_000).to_bytes(2, 'big') * 2      # height, width in the frame header
    with pytest.raises(image_io.ImageError, match=r'big.jpg: image too large \(60000x60000: 3,600 megapixels'):
        image_io.read_samples(_write(tmp_path / 'big.jpg', bytes(data)))


def test_opencv_errors_become_image_errors(tmp_path, monkeypatch):
    path = _write(tmp_path / 'a.png', COMPLETE['png'][1])

    def fail(*args):
        raise cv2.error('OpenCV(5.0) loadsave.cpp: error: (-215:Assertion failed) in validateInputImageSize')
    monkeypatch.setattr(cv2, 'imdecode', fail)
    with pytest.raises(image_io.ImageError, match='a.png: truncated or corrupt PNG'):
        image_io.read_samples(path)


def test_content_not_extension_picks_the_reader(tmp_path):
    png, jpeg = COMPLETE['png'][1], COMPLETE['baseline jpeg'][1]
    expected_png = image_io.read_samples(_write(tmp_path / 'a.png', png))
    np.testing.assert_array_equal(image_io.read_samples(_write(tmp_path / 'png.jpg', png)), expected_png)
    np.testing.assert_array_equal(image_io.read_samples(_write(tmp_path / 'png.tif', png)), expected_png)
    np.testing.assert_array_equal(image_io.read_samples(_write(tmp_path / 'jpeg.png', jpeg)),
                                  image_io.read_samples(_write(tmp_path / 'a.jpg', jpeg)))
    tifffile.imwrite(tmp_path / 'tiff.jpg', rgb16())
    assert image_io.read_samples(str(tmp_path / 'tiff.jpg')).dtype == np.uint16


# ----------------------------------------------------------------------------------------------
# Orientation (EXIF / TIFF tag 274)

STORED = np.array([[1, 2, 3], [4, 5, 6]])     # labels of the stored pixels, row by row
# What a viewer shows for each Orientation value, worked out by hand from the EXIF definitions
# (e.g. 6, "row 0 is the right side, column 0 the top": rotate 90 degrees clockwise).
VIEWED = {1: [[1, 2, 3], [4, 5, 6]], 2: [[3, 2, 1], [6, 5, 4]], 3: [[6, 5, 4], [3, 2, 1]],
          4: [[4, 5, 6], [1, 2, 3]], 5: [[1, 4], [2, 5], [3, 6]], 6: [[4, 1], [5, 2], [6, 3]],
          7: [[6, 3], [5, 2], [4, 1]], 8: [[3, 6], [2, 5], [1, 4]]}
BLOCK = 8


def labelled(dtype=np.uint8):
    """STORED as 8x8 blocks, each label a distinct colour."""
    scale = 257 if dtype == np.uint16 else 1
    colours = np.array([[0, 0, 0], [200, 30, 30], [30, 200, 30], [30, 30, 200], [200, 200, 30],
                        [30, 200, 200], [200, 30, 200]]) * scale
    return colours[np.kron(STORED, np.ones((BLOCK, BLOCK), int))].astype(dtype)


def labels_of(img):
    """Block labels back from an image of labelled() blocks (nearest colour, so JPEG loss is fine)."""
    colours = labelled()[::BLOCK, ::BLOCK].reshape(-1, 3).astype(float)
    centres = img[BLOCK // 2::BLOCK, BLOCK // 2::BLOCK].astype(float) / (257 if img.dtype == np.uint16 else 1)
    return np.argmin(((centres[..., None, :] - colours) ** 2).sum(-1), axis=-1) + 1


def exif_bytes(orientation, make=None, model=None):
    from PIL import Image
    exif = Image.Exif()
    exif[image_io.ORIENTATION_TAG] = orientation
    if make:
        exif[0x010F], exif[0x0110] = make, model
    return exif.tobytes()


def write_oriented(path, orientation, kind):
    from PIL import Image
    if kind == 'tiff':
        tifffile.imwrite(path, labelled(np.uint16), photometric='rgb',
                         extratags=[(image_io.ORIENTATION_TAG, 'H', 1, orientation, True)])
    elif kind == 'png16':   # Pillow cannot write 16-bit RGB: OpenCV's PNG with an eXIf chunk
        with open(path, 'wb') as f:
            image_io._write_png(f, labelled(np.uint16)[..., ::-1].copy(), None, exif_bytes(orientation))   # BGR
    else:
        Image.fromarray(labelled()).save(path, quality=95, exif=exif_bytes(orientation))


@pytest.mark.parametrize('kind, ext', [('jpeg', '.jpg'), ('png', '.png'), ('png16', '.png'), ('tiff', '.tif')])
def test_all_eight_orientations_are_shown_as_a_viewer_shows_them(tmp_path, kind, ext):
    for orientation, viewed in VIEWED.items():
        path = str(tmp_path / f'o{orientation}{ext}')
        write_oriented(path, orientation, kind)
        samples = image_io.read_samples(path)
        assert samples.dtype == (np.uint8 if kind in ('jpeg', 'png') else np.uint16)
        assert samples.flags['C_CONTIGUOUS']
        np.testing.assert_array_equal(labels_of(samples), viewed, err_msg=f'orientation {orientation}')


def test_orientation_matches_pillow(tmp_path):
    from PIL import Image, ImageOps
    for orientation in VIEWED:
        path = str(tmp_path / f'o{orientation}.png')
        write_oriented(path, orientation, 'png')
        np.testing.assert_array_equal(image_io.read_samples(path), np.asarray(ImageOps.exif_transpose(Image.open(path))))


def test_broken_exif_is_ignored(tmp_path):
    data = COMPLETE['baseline jpeg'][1]
    app1 = b'Exif\x00\x00MM\x00*\xff\xff'     # an IFD offset far past the end
    path = _write(tmp_path / 'a.jpg', data[:2] + b'\xff\xe1' + (len(app1) + 2).to_bytes(2, 'big') + app1 + data[2:])
    np.testing.assert_array_equal(image_io.read_samples(path), image_io.read_samples(_write(tmp_path / 'b.jpg', data)))


# ----------------------------------------------------------------------------------------------
# Metadata carried over to results

def icc_profile():
    from PIL import ImageCms
    return ImageCms.ImageCmsProfile(ImageCms.createProfile('sRGB')).tobytes()


def camera_jpeg(path, icc):
    from PIL import Image
    Image.fromarray(labelled()).save(path, quality=95, icc_profile=icc,
                                     exif=exif_bytes(6, 'Canon', 'EOS 5D'))
    return str(path)


def exif_of(block):
    from PIL import Image
    exif = Image.Exif()
    exif.load(block)
    return exif


@pytest.mark.parametrize('icc', [icc_profile(), icc_profile() + b'\0' * 70_000])   # 2 APP2 segments
def test_read_metadata_of_a_jpeg(tmp_path, icc):
    metadata = image_io.read_metadata(camera_jpeg(tmp_path / 'cam.jpg', icc))
    assert metadata['icc_profile'] == icc
    exif = exif_of(metadata['exif'])
    assert (exif[0x010F], exif[0x0110], exif[image_io.ORIENTATION_TAG]) == ('Canon', 'EOS 5D', 6)


def test_read_metadata_without_any(tmp_path):
    for name, data in (('a.jpg', COMPLETE['baseline jpeg'][1]), ('a.png', COMPLETE['png'][1])):
        assert image_io.read_metadata(_write(tmp_path / name, data)) == {'icc_profile': None, 'exif': None}
    tifffile.imwrite(tmp_path / 'a.tif', rgb16())
    assert image_io.read_metadata(str(tmp_path / 'a.tif')) == {'icc_profile': None, 'exif': None}


@pytest.mark.parametrize('fmt, ext', [('png', '.png'), ('png16', '.png'), ('tiff16', '.tif'), ('jpeg', '.jpg')])
def test_results_carry_the_profile_and_upright_exif(tmp_path, fmt, ext):
    from PIL import Image
    icc = icc_profile()
    source = camera_jpeg(tmp_path / 'cam.jpg', icc)
    samples = image_io.read_samples(source)                  # turned upright: 24 x 16
    out = image_io.write_image(str(tmp_path / f'out{ext}'), samples, fmt, metadata=image_io.read_metadata(source))
    if fmt == 'tiff16':
        with tifffile.TiffFile(out) as tif:
            tags = tif.pages[0].tags
            assert tags.valueof(34675) == icc
            assert (tags.valueof(271), tags.valueof(272), tags.valueof(274)) == ('Canon', 'EOS 5D', 1)
    else:
        with Image.open(out) as png:                      # a second reader: Pillow
            assert png.info['icc_profile'] == icc
            exif = png.getexif()
            assert (exif[0x010F], exif[0x0110], exif[image_io.ORIENTATION_TAG]) == ('Canon', 'EOS 5D', 1)
    back = image_io.read_metadata(out)
    assert back['icc_profile'] == icc and exif_of(back['exif'])[0x010F] == 'Canon'
    np.testing.assert_array_equal(labels_of(image_io.read_samples(out)), VIEWED[6])   # not turned twice


def test_jpeg_results_split_a_large_profile_into_numbered_segments(tmp_path):
    icc = icc_profile() + bytes(range(256)) * 600             # 150 KB: three APP2 segments
    out = image_io.write_image(str(tmp_path / 'out.jpg'), rgb8(), metadata={'icc_profile': icc, 'exif': None})
    assert open(out, 'rb').read().count(b'ICC_PROFILE\x00') == 3
    assert image_io.read_metadata(out) == {'icc_profile': icc, 'exif': None}
    from PIL import Image
    with Image.open(out) as jpeg:                              # a second reader joins them the same way
        assert jpeg.info['icc_profile'] == icc


def test_tiff_metadata_is_read(tmp_path):
    icc = icc_profile()
    tifffile.imwrite(tmp_path / 'a.tif', rgb16(), photometric='rgb', iccprofile=icc,
                     extratags=[(0x010F, 's', 0, 'Nikon', True), (0x0110, 's', 0, 'D850', True)])
    metadata = image_io.read_metadata(str(tmp_path / 'a.tif'))
    exif = exif_of(metadata['exif'])
    assert metadata['icc_profile'] == icc and (exif[0x010F], exif[0x0110]) == ('Nikon', 'D850')


def test_unreadable_exif_does_not_stop_a_result(tmp_path):
    out = image_io.write_image(str(tmp_path / 'out.png'), rgb8(), metadata={'icc_profile': None, 'exif': b'Exif\0\0junk'})
    assert image_io.read_metadata(out) == {'icc_profile': None, 'exif': None}


# ----------------------------------------------------------------------------------------------
# WebP and HEIC (iPhone photos)

def webp(img, quality=101):
    """WebP bytes of RGB samples through OpenCV; quality 101 is lossless (VP8L), below it lossy (VP8)."""
    return encoded('.webp', img, cv2.IMWRITE_WEBP_QUALITY, quality)


def pillow_webp(path, img, **options):
    """A lossless WebP as Pillow writes it: the extended layout (VP8X) when it holds EXIF or a profile."""
    from PIL import Image
    Image.fromarray(img).save(path, lossless=True, **options)
    return str(path)


def write_heic(path, samples, exif=None, icc=None, lossless=True):
    """A HEIC through pillow-heif: 8-bit, or 10-bit from uint16. Lossless codes RGB itself (no YCbCr),
    exactly; otherwise quality 90 with 4:2:0 chroma, as phones write. pillow-heif stores an EXIF
    Orientation as the file's own rotation (irot/imir) and keeps it in the EXIF, as iPhones do."""
    import pillow_heif
    heif = pillow_heif.from_bytes('RGB;16' if samples.dtype == np.uint16 else 'RGB', samples.shape[1::-1],
                                  samples.tobytes())
    heif.info.update({'exif': exif, 'icc_profile': icc})
    exact = {'quality': -1, 'chroma': 444, 'matrix_coefficients': 0}
    heif.save(str(path), **(exact if lossless else {'quality': 90}))
    return str(path)


def test_webp_reads_as_stored(tmp_path):
    img = smooth8()
    assert np.array_equal(image_io.read_samples(_write(tmp_path / 'a.webp', webp(img))), img)
    ok, rgba = cv2.imencode('.webp', np.dstack([img[..., ::-1], np.full(img.shape[:2], 9, np.uint8)]),
                            [cv2.IMWRITE_WEBP_QUALITY, 101])                          # BGRA: alpha dropped
    assert np.array_equal(image_io.read_samples(_write(tmp_path / 'rgba.webp', rgba.tobytes())), img)
    lossy = _write(tmp_path / 'lossy.webp', webp(img, 80))
    assert np.array_equal(image_io.read_samples(lossy), cv2.imread(lossy, cv2.IMREAD_UNCHANGED)[..., ::-1])


@pytest.mark.parametrize('chunk', ['VP8 ', 'VP8L', 'VP8X'])
def test_webp_size_comes_from_each_kind_of_header(tmp_path, chunk):
    img = smooth8(23, 37)
    if chunk == 'VP8X':
        data = open(pillow_webp(tmp_path / 'x.webp', img, exif=exif_bytes(1, 'Canon', 'EOS 5D')), 'rb').read()
    else:
        data = webp(img, 80 if chunk == 'VP8 ' else 101)
    assert data[12:16] == chunk.encode()
    assert containers.webp_layout(data)['size'] == (37, 23)


def test_lying_webp_header_is_refused_before_decoding(tmp_path):
    data = bytearray(open(pillow_webp(tmp_path / 'x.webp', smooth8(), exif=exif_bytes(1)), 'rb').read())
    data[24:30] = (59_999).to_bytes(3, 'little') * 2      # VP8X canvas width and height, minus one
    with pytest.raises(image_io.ImageError, match=r'big.webp: image too large \(60000x60000: 3,600 megapixels'):
        image_io.read_samples(_write(tmp_path / 'big.webp', bytes(data)))


@pytest.mark.parametrize('kind', ['lossy', 'extended'])
@pytest.mark.parametrize('keep', [0.2, 0.5, 0.9, -2])
def test_truncated_webp_is_a_named_error(tmp_path, kind, keep):
    # 'extended' ends with its EXIF chunk: cut 2 bytes from its end, the image data is still whole.
    data = webp(smooth8(), 80) if kind == 'lossy' else open(
        pillow_webp(tmp_path / 'x.webp', smooth8(), exif=exif_bytes(1, 'Canon', 'EOS 5D')), 'rb').read()
    cut = data[:keep] if keep < 0 else data[:int(len(data) * keep)]
    path = _write(tmp_path / 'cut.webp', cut)
    detail = f'it has {len(cut)} of the {len(data)} bytes its header gives'
    with pytest.raises(image_io.ImageError, match=f'truncated or corrupt WebP file \\({detail}\\); re-export or re-copy it') as e:
        image_io.read_samples(path)
    assert str(e.value).startswith(path)


def test_webp_metadata_and_orientation(tmp_path):
    icc = icc_profile()
    path = pillow_webp(tmp_path / 'cam.webp', labelled(), exif=exif_bytes(6, 'Canon', 'EOS 5D'), icc_profile=icc)
    metadata = image_io.read_metadata(path)            # Pillow writes the EXIF chunk without Exif\0\0
    assert metadata['icc_profile'] == icc and metadata['exif'].startswith(containers.EXIF_PREFIX)
    exif = exif_of(metadata['exif'])
    assert (exif[0x010F], exif[0x0110], exif[image_io.ORIENTATION_TAG]) == ('Canon', 'EOS 5D', 6)
    np.testing.assert_array_equal(labels_of(image_io.read_samples(path)), VIEWED[6])


def test_animated_webp_is_refused(tmp_path):
    from PIL import Image
    frames = [Image.fromarray(smooth8() // k) for k in (1, 2)]
    frames[0].save(tmp_path / 'clip.webp', save_all=True, append_images=frames[1:], duration=100, lossless=True)
    with pytest.raises(image_io.ImageError, match=r'clip.webp: an animated WebP, not a photo; save the frame'):
        image_io.read_samples(tmp_path / 'clip.webp')


def ten_bit():
    """16-bit samples of 10-bit values as full-scale 16-bit (1023 -> 65535), a white pixel included."""
    v = smooth8().astype(np.uint16) * 4
    v[0, 0] = 1023
    return v << 6 | v >> 4


@pytest.mark.parametrize('samples, lossless', [(smooth8(), True), (ten_bit(), True), (smooth8(), False)],
                         ids=['8-bit', '10-bit', '8-bit lossy'])
def test_heic_reads_its_pixels(tmp_path, samples, lossless):
    read = image_io.read_samples(write_heic(tmp_path / 'a.heic', samples, lossless=lossless))
    assert read.dtype == samples.dtype and read.shape == samples.shape
    if lossless:
        np.testing.assert_array_equal(read, samples)
    else:
        np.testing.assert_allclose(read, samples, atol=12)


@pytest.mark.parametrize('prefix', [True, False], ids=['Exif-prefixed', 'bare TIFF'])
def test_heic_is_turned_upright_once_and_its_result_stays_upright(tmp_path, prefix):
    icc, exif = icc_profile(), exif_bytes(6, 'Apple', 'iPhone 15')
    path = write_heic(tmp_path / 'IMG_0001.HEIC', labelled(), exif if prefix else exif[6:], icc)
    samples = image_io.read_samples(path)
    np.testing.assert_array_equal(labels_of(samples), VIEWED[6])
    metadata = image_io.read_metadata(path)
    assert metadata['icc_profile'] == icc and metadata['exif'].startswith(containers.EXIF_PREFIX)
    exif = exif_of(metadata['exif'])      # as stored: the EXIF still says 6, the pixels are upright
    assert (exif[0x010F], exif[0x0110], exif[image_io.ORIENTATION_TAG]) == ('Apple', 'iPhone 15', 6)
    out = image_io.write_image(str(tmp_path / 'out.png'), samples, metadata=metadata)
    assert exif_of(image_io.read_metadata(out)['exif'])[image_io.ORIENTATION_TAG] == 1
    np.testing.assert_array_equal(labels_of(image_io.read_samples(out)), VIEWED[6])     # not turned again


@pytest.mark.parametrize('damage, reason', [
    ('cut', 'truncated or corrupt HEIC/HEIF file (pillow-heif: '),
    ('zeroed after its header', 'truncated or corrupt HEIC/HEIF file (pillow-heif: '),
    ('text', 'cannot decode: the content is not JPEG, PNG or TIFF (nor WebP, HEIC or AVIF)')])
def test_corrupt_heic_is_a_named_error(tmp_path, damage, reason):
    data = open(write_heic(tmp_path / 'ok.heic', smooth8(), lossless=False), 'rb').read()
    content = {'cut': data[:len(data) // 2], 'zeroed after its header': data[:32].ljust(len(data), b'\0'),
               'text': b'not a photo'}[damage]
    path = _write(tmp_path / 'bad.heic', content)
    # read_metadata reads headers only (as for TIFF): it finds the damage when they are damaged.
    for read in (image_io.read_samples,) + ((image_io.read_metadata,) if damage.startswith('zeroed') else ()):
        with pytest.raises(image_io.ImageError) as e:
            read(path)
        assert str(e.value).startswith(f'{path}: {reason}') and 're-' in str(e.value), read.__name__


@pytest.mark.parametrize('kind', ['WebP', 'HEIC/HEIF', 'AVIF'])
def test_copy_padded_with_zeros_warns_and_is_still_read(tmp_path, capsys, kind):
    # An interrupted copy that keeps its full length, zeros after the cut: headers and lengths are
    # intact and the decoders make up the bottom of the image without an error.
    img = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)   # 10+ KB coded
    if kind == 'WebP':
        data, ext = webp(img, 80), '.webp'
    elif kind == 'AVIF':
        data, ext = open(write_avif(tmp_path / 'ok.avif', img), 'rb').read(), '.avif'
    else:
        data, ext = open(write_heic(tmp_path / 'ok.heic', img, lossless=False), 'rb').read(), '.heic'
    padded = data[:len(data) // 2].ljust(len(data), b'\0')
    whole, cut = _write(tmp_path / f'whole{ext}', data), _write(tmp_path / f'cut{ext}', padded)
    assert image_io.read_samples(whole).shape == img.shape and capsys.readouterr().err == ''
    assert image_io.read_samples(cut).shape == img.shape
    zeros = len(padded) - len(padded.rstrip(b'\0'))
    assert zeros >= image_io.ZERO_TAIL_BYTES
    assert capsys.readouterr().err == (
        f"warning: {cut}: the last {zeros:,} bytes of this {kind} file are zeros, as in a copy cut short and "
        "padded to its full size (an interrupted download or card copy); if the bottom of the image looks "
        "wrong, copy the file again\n")


# AVIF (web images, some phones): Pillow's plugin decodes it

def write_avif(path, samples, exif=None, icc=None):
    """An AVIF through Pillow at quality 95 (4:2:0 chroma). Pillow stores an EXIF Orientation as the
    file's own rotation (irot/imir) and drops it from the EXIF; reading reports it as the Orientation."""
    from PIL import Image
    Image.fromarray(samples).save(str(path), format='AVIF', quality=95, exif=exif or b'', icc_profile=icc)
    return str(path)


def test_avif_reads_its_pixels_and_is_known_by_content(tmp_path):
    img = smooth8()
    path = write_avif(tmp_path / 'a.avif', img)
    read = image_io.read_samples(path)
    assert read.dtype == np.uint8 and read.shape == img.shape
    np.testing.assert_allclose(read, img, atol=12)
    data = open(path, 'rb').read()
    np.testing.assert_array_equal(image_io.read_samples(_write(tmp_path / 'avif.png', data)), read)
    # The plain HEIF brand as major brand, AVIF among the compatible ones (as some encoders write):
    # still AV1 inside, so Pillow's decoder, not pillow-heif's (which has no AV1 decoder built in).
    assert data[8:12] == b'avif' and b'mif1' in data[16:int.from_bytes(data[:4], 'big')]
    mif1 = _write(tmp_path / 'mif1.heif', data[:8] + b'mif1' + data[12:])
    np.testing.assert_array_equal(image_io.read_samples(mif1), read)
    assert image_io.default_encoding(path) == 'srgb'


def test_avif_is_turned_upright_and_keeps_its_metadata(tmp_path):
    icc, exif = icc_profile(), exif_bytes(6, 'Google', 'Pixel 9')
    path = write_avif(tmp_path / 'PXL_0001.avif', labelled(), exif, icc)
    samples = image_io.read_samples(path)
    np.testing.assert_array_equal(labels_of(samples), VIEWED[6])
    metadata = image_io.read_metadata(path)
    assert metadata['icc_profile'] == icc and metadata['exif'].startswith(containers.EXIF_PREFIX)
    assert (exif_of(metadata['exif'])[0x010F], exif_of(metadata['exif'])[0x0110]) == ('Google', 'Pixel 9')
    out = image_io.write_image(str(tmp_path / 'out.png'), samples, metadata=metadata)
    assert exif_of(image_io.read_metadata(out)['exif'])[image_io.ORIENTATION_TAG] == 1
    np.testing.assert_array_equal(labels_of(image_io.read_samples(out)), VIEWED[6])     # not turned again


def test_avif_without_pillow_support_says_how_to_get_it(tmp_path, monkeypatch):
    from PIL import features
    path = write_avif(tmp_path / 'a.avif', smooth8())
    monkeypatch.setattr(features, 'check', lambda name: name != 'avif')     # a Pillow built without libavif
    with pytest.raises(image_io.ImageError, match=f'{path}: AVIF needs a Pillow with AVIF support .pip install -U Pillow'):
        image_io.read_samples(path)


@pytest.mark.parametrize('damage', ['cut', 'zeroed after its header'])
def test_corrupt_avif_is_a_named_error(tmp_path, damage):
    data = open(write_avif(tmp_path / 'ok.avif', smooth8()), 'rb').read()
    content = data[:len(data) // 2] if damage == 'cut' else data[:32].ljust(len(data), b'\0')
    path = _write(tmp_path / 'bad.avif', content)
    for read in (image_io.read_samples, image_io.read_metadata):
        with pytest.raises(image_io.ImageError) as e:
            read(path)
        assert str(e.value).startswith(f'{path}: truncated or corrupt AVIF file (Pillow') and 're-' in str(e.value)


def write_deep_avif(path, samples, bits, transfer=None):
    """A lossless 10- or 12-bit AVIF through imagecodecs (Pillow writes 8 bits only); samples in
    [0, 2^bits - 1]; transfer an ITU-T H.273 transfer characteristic (16 PQ, 18 HLG)."""
    import imagecodecs
    with open(path, 'wb') as f:
        f.write(imagecodecs.avif_encode(samples, level=100, bitspersample=bits, transfer=transfer))
    return str(path)


@pytest.mark.parametrize('bits', [10, 12])
def test_deep_avif_keeps_its_bits(tmp_path, capsys, bits):
    # Pillow would decode these to 8 bits; through imagecodecs every level survives, scaled to 16-bit
    # full scale by repeating the top bits, as the HEIF reader does (1023 -> 65535).
    levels = (np.arange(48 * 64 * 3) * 7 % (1 << bits)).astype(np.uint16).reshape(48, 64, 3)
    read = image_io.read_samples(write_deep_avif(tmp_path / 'a.avif', levels, bits))
    assert read.dtype == np.uint16
    np.testing.assert_array_equal(read, levels << (16 - bits) | levels >> (2 * bits - 16))
    assert len(np.unique(read)) == 1 << bits and read.max() == 65535 and capsys.readouterr().err == ''
    # The same 10-bit values from a HEIC read the same.
    if bits == 10:
        np.testing.assert_array_equal(image_io.read_samples(write_deep_avif(tmp_path / 'b.avif', ten_bit() >> 6, 10)),
                                      image_io.read_samples(write_heic(tmp_path / 'b.heic', ten_bit())))


def test_deep_avif_without_an_avif_decoder_in_imagecodecs_is_read_at_8_bits(tmp_path, capsys, monkeypatch):
    import imagecodecs
    path = write_deep_avif(tmp_path / 'a.avif', ten_bit() >> 6, 10)
    monkeypatch.setattr(imagecodecs.AVIF, 'available', False)
    read = image_io.read_samples(path)
    assert read.dtype == np.uint8
    np.testing.assert_allclose(read, ten_bit() / 257, atol=2)
    assert capsys.readouterr().err == (f"warning: {path}: a 10-bit AVIF read at 8 bits: the installed imagecodecs "
                                       "cannot decode AVIF (pip install -U imagecodecs keeps all its bits)\n")


def test_corrupt_deep_avif_is_a_named_error(tmp_path, monkeypatch):
    import imagecodecs
    data = open(write_deep_avif(tmp_path / 'ok.avif', ten_bit() >> 6, 10), 'rb').read()
    path = _write(tmp_path / 'bad.avif', data[:len(data) * 9 // 10])
    with pytest.raises(image_io.ImageError, match='truncated or corrupt AVIF file'):     # found by Pillow
        image_io.read_samples(path)

    def damaged(data):          # complete headers, damaged image data: the decoder finds it
        raise imagecodecs.AvifError('avifDecoderNextImage', 'Truncated data')
    monkeypatch.setattr(imagecodecs, 'avif_decode', damaged)
    good = _write(tmp_path / 'damaged.avif', data)
    with pytest.raises(image_io.ImageError) as e:
        image_io.read_samples(good)
    assert str(e.value).startswith(f'{good}: truncated or corrupt AVIF file (imagecodecs: ') and 're-' in str(e.value)


def pq_signal(nits):
    """SMPTE ST 2084's inverse EOTF, written out here independently of image_io: nits -> signal."""
    y = np.asarray(nits, np.float64) / 10000
    m1, m2, c1, c2, c3 = 2610 / 16384, 2523 / 4096 * 128, 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    return ((c1 + c2 * y ** m1) / (1 + c3 * y ** m1)) ** m2


def grey(signal):
    return np.full((2, 2, 3), signal, np.float32)


def test_pq_and_hlg_reference_white_becomes_sdr_white():
    # BT.2408's diffuse white (203 nits) is SDR's white; 20.3 nits is a tenth of it, in linear light.
    for primaries in (9, 12, 1, 2):           # a grey is grey on every set of primaries
        np.testing.assert_allclose(image_io.hdr_to_sdr(grey(pq_signal(203)), 'PQ', primaries), 1.0, atol=2e-3)
        np.testing.assert_allclose(image_io.hdr_to_sdr(grey(pq_signal(20.3)), 'PQ', primaries),
                                   image_io.linear_to_srgb(0.1), atol=2e-3)
    # HLG: signal 0.75 is 203 nits on the nominal 1000-nit display (BT.2100 OOTF, system gamma 1.2).
    np.testing.assert_allclose(image_io.hdr_to_sdr(grey(0.75), 'HLG', 9), 1.0, atol=3e-3)
    assert image_io.hdr_to_sdr(grey(0.0), 'PQ', 9).max() == 0 == image_io.hdr_to_sdr(grey(0.0), 'HLG', 9).max()


def test_hdr_highlights_roll_off_to_white_keeping_hue_and_the_midtones():
    nits = np.array([[[10, 10, 10], [101.5, 101.5, 101.5], [190, 190, 190]],
                     [[400, 400, 400], [1000, 500, 250], [4000, 4000, 4000]]], np.float64)
    sdr = image_io.hdr_to_sdr(pq_signal(nits).astype(np.float32), 'PQ', 1)       # BT.709: no gamut change
    linear = image_io.srgb_to_linear(sdr)
    # Below 0.8 of white nothing changes; the brightest pixel becomes white; brighter stays brighter.
    np.testing.assert_allclose(linear[0, :2, 0], [10 / 203, 0.5], rtol=2e-3)
    assert linear[1, 2].min() > 0.999
    order = [linear[0, 0, 0], linear[0, 1, 0], linear[0, 2, 0], linear[1, 0, 0], linear[1, 2, 0]]
    assert all(a < b for a, b in zip(order, order[1:])) and 0.8 < linear[0, 2, 0] < 190 / 203
    # A coloured highlight keeps its channel ratios (its hue and saturation), only darker.
    np.testing.assert_allclose(linear[1, 1] / linear[1, 1, 0], [1, 0.5, 0.25], rtol=5e-3)
    assert 0.8 < linear[1, 1, 0] < 1


def test_wide_gamut_hdr_colours_are_taken_to_srgb():
    # Display P3's pure red at reference white is outside sRGB: red above 1 is rolled off, green and blue
    # (negative there) clip to 0. BT.2020's white point is D65, so its grey stays grey (above).
    red = np.zeros((1, 1, 3), np.float32)
    red[..., 0] = pq_signal(203)
    out = image_io.hdr_to_sdr(red, 'PQ', 12)
    assert out[0, 0, 0] > 0.99 and out[0, 0, 1:].max() == 0
    # The matrix: P3 red in BT.709 is about (1.2249, -0.0421, -0.0196) (SMPTE EG 432-1 and BT.709 primaries).
    m = np.linalg.solve(image_io._rgb_to_xyz(image_io.PRIMARIES[1][1]), image_io._rgb_to_xyz(image_io.PRIMARIES[12][1]))
    np.testing.assert_allclose(m[:, 0], [1.2249, -0.0421, -0.0196], atol=2e-4)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-9)


def heic_with_transfer(path, transfer):
    """An 8-bit HEIC whose colour description (its nclx colr box) names another transfer."""
    data = open(write_heic(path, smooth8()), 'rb').read()
    at = data.index(b'nclx') + 6
    return _write(path, data[:at] + transfer.to_bytes(2, 'big') + data[at + 2:])


@pytest.mark.parametrize('kind, transfer, name', [('AVIF', 16, 'PQ'), ('AVIF', 18, 'HLG'), ('AVIF', 13, None),
                                                  ('HEIC/HEIF', 16, 'PQ'), ('HEIC/HEIF', 13, None)])
def test_hdr_avif_and_heic_are_tone_mapped_to_sdr(tmp_path, capsys, kind, transfer, name):
    if kind == 'AVIF':
        stored = ten_bit() >> 6
        path = write_deep_avif(tmp_path / 'a.avif', stored, 10, transfer)
        signal = stored.astype(np.float32) / 1023
    else:
        path = heic_with_transfer(tmp_path / 'a.heic', transfer)
        signal = smooth8().astype(np.float32) / 255
    read = image_io.read_samples(path)
    out = capsys.readouterr().out
    if name is None:            # sRGB's transfer: SDR, read as stored
        assert out == '' and image_io.to_float(read).mean() == pytest.approx(signal.mean(), abs=2e-3)
        return
    assert read.dtype == np.uint16 and read.shape == signal.shape
    assert out.startswith(f"note: {path}: an HDR {kind} image ({name}, ") and 'tone mapped to SDR' in out
    assert out.count('\n') == 1
    np.testing.assert_array_equal(image_io.read_samples(path), read)       # read again: said once
    assert capsys.readouterr().out == ''
    _, primaries = image_io._hdr_colour(containers.item_properties(open(path, 'rb').read()))
    np.testing.assert_allclose(image_io.to_float(read), image_io.hdr_to_sdr(signal, name, primaries), atol=0.01)


def test_an_hdr_heic_profile_is_not_carried_to_its_sdr_results(tmp_path, monkeypatch):
    # A HEIF may describe its colour both by a profile and by nclx; pillow-heif writes one, so the nclx
    # of an HDR image is added to what the container reports.
    icc = icc_profile()
    path = write_heic(tmp_path / 'a.heic', smooth8(), icc=icc)
    assert image_io.read_metadata(path)['icc_profile'] == icc
    properties = containers.item_properties
    pq = (b'colr', b'nclx' + (9).to_bytes(2, 'big') + (16).to_bytes(2, 'big') + b'\0\0\x80')
    monkeypatch.setattr(containers, 'item_properties', lambda data: properties(data) + [pq])
    assert image_io.read_metadata(path)['icc_profile'] is None


def test_webp_and_heic_are_known_by_content(tmp_path):
    img = smooth8()
    np.testing.assert_array_equal(image_io.read_samples(_write(tmp_path / 'webp.jpg', webp(img))), img)
    heic = open(write_heic(tmp_path / 'a.heic', img), 'rb').read()
    np.testing.assert_array_equal(image_io.read_samples(_write(tmp_path / 'heic.png', heic)), img)


# ----------------------------------------------------------------------------------------------
# Output files: permissions and unusable locations

@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.parametrize('fmt, ext', [('png', '.png'), ('tiff16', '.tif')])
def test_results_get_the_usual_permissions(tmp_path, umask_022, fmt, ext):
    path = image_io.write_image(str(tmp_path / f'out{ext}'), rgb8(), fmt)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644          # like any new file, not mkstemp's 0600


class FullDisk(io.FileIO):
    def write(self, data):
        raise OSError(errno.ENOSPC, 'No space left on device')


def refuse(error_number):
    def fake_open(path, mode):
        raise OSError(error_number, os.strerror(error_number), path)
    return fake_open


@pytest.mark.parametrize('fmt, ext', [('png', '.png'), ('png16', '.png'), ('tiff16', '.tif'), ('jpeg', '.jpg')])
@pytest.mark.parametrize('fake_open, message', [
    (FullDisk, 'no space left on device: free some space or choose another --output-dir'),
    (refuse(errno.EACCES), 'permission denied: choose another --output-dir'),   # (tests run as root)
    (refuse(errno.EROFS), 'read-only file system'),
])
def test_write_failures_are_output_errors(tmp_path, monkeypatch, fmt, ext, fake_open, message):
    path = tmp_path / f'out{ext}'
    image_io.write_image(str(path), rgb8(), fmt)
    before = path.read_bytes()
    monkeypatch.setattr(atomic, 'open', fake_open, raising=False)   # where write_image's file is opened
    with pytest.raises(image_io.OutputError) as e:
        image_io.write_image(str(path), rgb8(), fmt)
    assert str(e.value).startswith(f'{path}: cannot write the image: {message}')
    assert isinstance(e.value, OSError) and path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]               # no temporary left behind


def test_unusable_output_locations(tmp_path):
    (tmp_path / 'file').write_text('x')
    (tmp_path / 'folder.png').mkdir()
    cases = {tmp_path / 'file' / 'out.png': 'part of the folder path is a file',
             tmp_path / 'file' / 'sub' / 'out.png': 'part of the folder path is a file',
             tmp_path / 'folder.png': 'a folder has that name'}
    for path, message in cases.items():
        with pytest.raises(image_io.OutputError, match=f'{path}: cannot write the image: {message}'):
            image_io.write_image(str(path), rgb8())
    assert sorted(p.name for p in tmp_path.iterdir()) == ['file', 'folder.png']


@pytest.mark.skipif(os.geteuid() == 0, reason='root may write anywhere')
def test_read_only_folder(tmp_path):
    (tmp_path / 'locked').mkdir(mode=0o555)
    with pytest.raises(image_io.OutputError, match='permission denied'):
        image_io.write_image(str(tmp_path / 'locked' / 'out.png'), rgb8())


def test_crops():
    img = RNG.uniform(0, 1, (60, 100, 3)).astype(np.float32)
    sq = image_io.center_square(img)
    assert sq.shape == (60, 60, 3) and np.array_equal(sq, img[:, 20:80])
    crops = image_io.random_square_crops(img, 4, 80, np.random.default_rng(0))
    assert crops.shape == (4, 80, 80, 3) and crops.dtype == np.float32
    const = image_io.random_square_crops(np.full((50, 70, 3), 0.25, np.float32), 2, 20, np.random.default_rng(0))
    np.testing.assert_allclose(const, 0.25, atol=1e-6)


def test_load_config_and_overrides():
    cfg = configurator.load_config('example', ['--max_iter_step=200', '--batch_size=16', '--base_lr=1', '--seed=3'])
    assert (cfg.max_iter_step, cfg.batch_size, cfg.base_lr, cfg.seed) == (200, 16, 1.0, 3)
    assert cfg.config_name == 'example' and cfg.num_state_dim == 11 and len(cfg.filters) == 8
    assert configurator.load_config('example').max_iter_step == 20000          # fresh namespace each time
    sintel = configurator.load_config('sintel', ['--input_dir=/tmp/frames'])
    assert sintel.input_dir == '/tmp/frames' and sintel.input_kind == 'folder' and sintel.batch_size == 64
    with pytest.raises(SystemExit, match='Available configs: .*example.*sintel'):
        configurator.load_config('nonexistent')
    with pytest.raises(SystemExit, match='bad override'):
        configurator.load_config('example', ['--no_such_key=1'])
    with pytest.raises(SystemExit, match='must be int'):
        configurator.load_config('example', ['--batch_size=abc'])
    snapshot = configurator.config_to_dict(cfg)
    assert snapshot['filters'][0] == 'ExposureFilter' and snapshot['tone_curve_range'] == [0.5, 2]
