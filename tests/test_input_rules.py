"""Inputs read as they are meant, on files built here (no shared data): CMYK JPEGs (through their
colour profile) and profiles that cannot describe RGB results, the reading-side messages
(permission denied, names too long), animated and metadata-heavy PNGs, library warnings with the file's
name, sidecars and macOS '._' files in folders and globs, folders with brackets in globs, JPEG's size
limit on writing. All images are tiny.
"""
import errno
import io
import itertools
import os
import pathlib
import struct

import cv2
import numpy as np
import pytest

import containers
import evaluate
import image_io
from conftest import unsearchable, without_root


def picture(h=24, w=32, dtype=np.uint8):
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.dstack([x / w, y / h, (x + y) / (h + w)])
    return np.round(rgb * np.iinfo(dtype).max).astype(dtype)


def encoded(ext, samples):
    ok, data = cv2.imencode(ext, np.ascontiguousarray(samples[..., ::-1]))    # OpenCV takes BGR
    assert ok
    return data.tobytes()


def with_png_chunk(png, kind, body):
    """A PNG with one more chunk after its header chunk."""
    return png[:33] + containers.png_chunk(kind, body) + png[33:]


def write(path, data):
    path.write_bytes(data)
    return str(path)


# ----------------------------------------------------------------------------------------------
# CMYK JPEGs and colour profiles

def s15(x):
    return struct.pack('>i', round(x * 65536))


def lab8(L, a, b):
    return bytes([round(L * 255 / 100), round(a + 128), round(b + 128)])


def icc_profile(space, tags=()):
    """An ICC v2 profile (header, tag table, tags) of a device class and colour space, to Lab."""
    tags = [(b'wtpt', b'XYZ ' + bytes(4) + s15(0.9642) + s15(1.0) + s15(0.8249)), *tags]
    offset, table, body = 128 + 4 + 12 * len(tags), b'', b''
    for sig, data in tags:
        data += bytes(-len(data) % 4)
        table += sig + struct.pack('>II', offset + len(body), len(data))
        body += data
    header = (struct.pack('>I', offset + len(body)) + b'lcms' + bytes([2, 0x10, 0, 0]) + b'prtr' + space
              + b'Lab ' + bytes(12) + b'acsp' + bytes(28) + s15(0.9642) + s15(1.0) + s15(0.8249) + bytes(48))
    return header + struct.pack('>I', len(tags)) + table + body


def cyan_prints_red():
    """A CMYK printer profile that no plain conversion could guess: no ink is white, black ink black,
    cyan ink alone red (Lab 50, 70, 50), any other ink grey (its A2B0 table: 2 points per ink)."""
    grid = b''.join(lab8(0, 0, 0) if k else lab8(100, 0, 0) if not (c or m or y) else
                    lab8(50, 70, 50) if (c, m, y) == (1, 0, 0) else lab8(50, 0, 0)
                    for c, m, y, k in itertools.product((0, 1), repeat=4))
    ramp = bytes(range(256))
    table = (b'mft1' + bytes(4) + bytes([4, 3, 2, 0]) + b''.join(s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
             + ramp * 4 + grid + ramp * 3)
    return icc_profile(b'CMYK', [(b'A2B0', table)])


def cmyk_jpeg(icc):
    """Cyan ink on the left half, magenta on the right."""
    from PIL import Image
    ink = np.zeros((24, 32, 4), np.uint8)
    ink[:, :16, 0] = ink[:, 16:, 1] = 255
    buf = io.BytesIO()
    Image.fromarray(ink, 'CMYK').save(buf, 'JPEG', quality=95, **({'icc_profile': icc} if icc else {}))
    return buf.getvalue()


def test_cmyk_jpeg_is_converted_through_its_profile(tmp_path, capsys):
    path = write(tmp_path / 'print.jpg', cmyk_jpeg(cyan_prints_red()))
    rgb = image_io.read_samples(path).astype(int)
    cyan, magenta = rgb[:, :12].mean(axis=(0, 1)), rgb[:, 20:].mean(axis=(0, 1))
    assert cyan[0] > 200 and cyan[1] < 80 and cyan[2] < 80, cyan         # red, as the profile says
    assert np.ptp(magenta) < 6 and 100 < magenta[0] < 140, magenta       # grey
    assert 'CMYK JPEG, converted to sRGB through its colour profile' in capsys.readouterr().out
    assert image_io.read_metadata(path)['icc_profile'] is None          # never a CMYK profile in RGB results


def test_cmyk_jpeg_without_profile_is_converted_plainly_with_a_note(tmp_path, capsys):
    path = write(tmp_path / 'plain.jpg', cmyk_jpeg(None))
    rgb = image_io.read_samples(path).astype(int)
    assert np.abs(rgb[:, :12] - [0, 255, 255]).max() < 8 and np.abs(rgb[:, 20:] - [255, 0, 255]).max() < 8
    assert f'{path}: a CMYK JPEG and it has no colour profile' in capsys.readouterr().out


def test_grey_profile_is_not_copied_into_rgb_results(tmp_path, capsys):
    grey = icc_profile(b'GRAY')
    png = b''.join(containers.png_with_metadata(encoded('.png', picture()[..., :1]), grey, None))
    path = write(tmp_path / 'grey.png', png)
    assert image_io.read_metadata(path)['icc_profile'] is None
    assert 'GRAY colour profile does not describe RGB results' in capsys.readouterr().out
    rgb = icc_profile(b'RGB ')
    assert image_io.read_metadata(write(tmp_path / 'rgb.png', b''.join(containers.png_with_metadata(
        encoded('.png', picture()), rgb, None))))['icc_profile'] == rgb


# ----------------------------------------------------------------------------------------------
# Reading-side messages

def test_permission_denied_is_said_as_such(tmp_path, monkeypatch):
    path = write(tmp_path / 'locked.jpg', encoded('.jpg', picture()))
    real_stat = os.stat

    def denied(name, *args, **kwargs):   # what a folder without search permission gives (root is never denied)
        if os.fspath(name) == path:
            raise PermissionError(errno.EACCES, 'Permission denied', name)
        return real_stat(name, *args, **kwargs)
    monkeypatch.setattr(os, 'stat', denied)
    with pytest.raises(image_io.ImageError) as e:
        image_io.read_samples(path)
    assert path in str(e.value) and 'permission denied' in str(e.value) and 'no such file' not in str(e.value)


def test_names_too_long_name_the_cause(tmp_path):
    path = str(tmp_path / ('x' * 300 + '.jpg'))
    with pytest.raises(image_io.ImageError) as e:
        image_io.read_samples(path)
    assert '304 bytes long' in str(e.value) and 'no such file' not in str(e.value)


# ----------------------------------------------------------------------------------------------
# PNG chunks

def test_animated_png_is_refused_as_animated_webp_is(tmp_path):
    png = encoded('.png', picture())
    apng = with_png_chunk(png, b'acTL', (2).to_bytes(4, 'big') + (0).to_bytes(4, 'big'))   # 2 frames, loop
    with pytest.raises(image_io.ImageError, match='animated PNG'):
        image_io.read_samples(write(tmp_path / 'anim.png', apng))


@pytest.mark.parametrize('kind', [b'iTXt', b'eXIf'])
def test_png_with_a_large_metadata_chunk_is_read(tmp_path, kind):
    """OpenCV refuses chunks of several megabytes (an XMP packet with a preview, a big EXIF)."""
    png = encoded('.png', picture())
    body = b'XML:com.adobe.xmp\0\0\0\0\0' + b' ' * 9_000_000 if kind == b'iTXt' else b'MM\0*' + bytes(9_000_000)
    path = write(tmp_path / 'xmp.png', with_png_chunk(png, kind, body))
    np.testing.assert_array_equal(image_io.read_samples(path), picture())
    assert image_io.read_metadata(path)['icc_profile'] is None


def test_library_warnings_carry_the_file_name(tmp_path, capsys):
    from PIL import Image
    exif = Image.Exif()
    exif[0x010F] = 'Camera maker ' * 4
    block = exif.tobytes()
    jpeg = b''.join(containers.jpeg_with_metadata(encoded('.jpg', picture()), None, block[:-20]))   # cut short
    path = write(tmp_path / 'bad_exif.jpg', jpeg)
    with __import__('warnings').catch_warnings():
        __import__('warnings').simplefilter('error')       # a warning escaping unnamed fails the test
        image_io.read_samples(path)
    assert f'warning: {path}: ' in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Folders and globs

@pytest.fixture
def shoot(tmp_path):
    folder = tmp_path / 'shoot[1]'
    (folder / 'raw').mkdir(parents=True)
    for name in ('a.jpg', 'b.JPG'):
        write(folder / name, encoded('.jpg', picture()))
    for name in ('._a.jpg', '._b.JPG', 'a.xmp', 'b.JPG.xmp', '.DS_Store'):
        write(folder / name, b'\0\5\26\7 not a photo')
    return folder


def test_sidecars_and_macos_files_are_passed_over_in_folders_and_globs(shoot):
    photos = [str(shoot / 'a.jpg'), str(shoot / 'b.JPG')]
    # A glob's * does not match names starting with a dot, so it meets no '._' files.
    for item, others in ((str(shoot), ['.DS_Store', '._a.jpg', '._b.JPG', 'a.xmp', 'b.JPG.xmp']),
                         (str(shoot / '*'), ['a.xmp', 'b.JPG.xmp']), (str(shoot / '.*'), ['.DS_Store', '._a.jpg',
                                                                                          '._b.JPG'])):
        passed = []
        assert image_io.list_images([item], passed) == (photos if others[-1].endswith('xmp') else []), item
        assert sorted(os.path.basename(p) for p in passed) == others, item


def test_subfolders_of_a_folder_without_search_permission_are_not_counted_as_files(open_folder):
    folder = os.path.join(open_folder, 'shoot')
    os.makedirs(os.path.join(folder, 'raw'))
    write(pathlib.Path(folder, 'a.jpg'), encoded('.jpg', picture()))
    write(pathlib.Path(folder, 'a.xmp'), b'<x:xmpmeta/>')
    passed = []
    with unsearchable(folder), without_root():
        assert image_io.list_images([folder], passed) == [os.path.join(folder, 'a.jpg')]
    assert passed == [os.path.join(folder, 'a.xmp')]      # not the subfolder 'raw' as a file


def test_glob_in_a_folder_with_brackets_finds_its_files(shoot, tmp_path):
    (tmp_path / 'shoot1').mkdir()
    assert image_io.list_images([str(shoot / '*.jpg')]) == [str(shoot / 'a.jpg')]


def test_evaluate_counts_passed_over_files_once(shoot, capsys):
    tally = evaluate.Tally()
    files = evaluate.gather_inputs([str(shoot), str(shoot / '*.JPG')], tally)
    out, err = capsys.readouterr()
    assert files == [str(shoot / 'a.jpg'), str(shoot / 'b.JPG')] and tally.skipped == 0
    assert out.count('passed over 5 files') == 1 and 'macOS ._ files' in out and '.xmp' in out and not err


def test_a_macos_file_given_by_name_is_named_as_such(shoot):
    with pytest.raises(image_io.ImageError, match='macOS metadata file'):
        image_io.read_samples(str(shoot / '._a.jpg'))


# ----------------------------------------------------------------------------------------------
# Writing

def test_jpeg_too_wide_says_why_and_what_to_use(tmp_path):
    with pytest.raises(image_io.OutputError) as e:
        image_io.write_image(str(tmp_path / 'wide.jpg'), np.zeros((2, 65536, 3), np.uint8), fmt='jpeg')
    assert '65,536x2' in str(e.value) and 'png16 or tiff16' in str(e.value)
    assert os.listdir(tmp_path) == []


def test_evaluate_refuses_a_jpeg_result_too_wide_before_developing_it(tmp_path, capsys):
    photo = write(tmp_path / 'panorama.png', encoded('.png', np.zeros((16, 65536, 3), np.uint8)))
    recipe = tmp_path / 'edit.steps.json'
    recipe.write_text('{"version": 1, "input_encoding": "srgb", "steps": [{"class": "ExposureFilter", '
                      '"parameters": [0.5]}]}')
    assert evaluate.main(['--recipe', str(recipe), photo, '--output-dir', str(tmp_path / 'out'),
                          '--format', 'jpeg']) == 1
    err = capsys.readouterr().err
    assert f'{photo}: JPEG holds at most 65,500 pixels a side' in err and 'png16 or tiff16' in err
    assert '.tmp-' not in err
