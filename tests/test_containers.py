"""containers.py on bytes alone: file kinds, the metadata segments written into results read back
exactly, and damage reported without a file name (image_io adds it; test_util and test_bad_inputs
cover that through real files)."""
import cv2
import numpy as np
import pytest

import containers


def encoded(ext):
    ok, data = cv2.imencode(ext, np.full((8, 12, 3), 128, np.uint8))
    assert ok
    return data.tobytes()


@pytest.mark.parametrize('head, kind', [
    (containers.PNG_SIGNATURE + b'\0' * 8, 'png'),
    (b'\xff\xd8\xff\xe0' + b'\0' * 8, 'jpeg'),
    (b'RIFF\0\0\0\0WEBPVP8 ', 'webp'),
    (b'II*\x00' + b'\0' * 8, 'tiff'),
    (b'\0\0\0\x18ftypheic\0\0\0\0mif1heic', 'heif'),
    (b'\0\0\0\x18ftypavif\0\0\0\0mif1avif', 'avif'),
    (b'\0\0\0\x18ftypmif1\0\0\0\0mif1avif', 'avif'),    # generic HEIF brand, AV1 inside
    (b'\0\0\0\x14ftypmif1\0\0\0\0mif1', 'heif'),
    (b'GIF89a' + b'\0' * 8, None),
])
def test_file_kind_from_the_first_bytes(head, kind):
    assert containers.file_kind(head) == kind


def test_jpeg_metadata_reads_back_exactly_over_several_segments():
    icc = bytes(range(256)) * 600                    # 150 KB: three APP2 segments
    exif = containers.EXIF_PREFIX + b'MM\x00*' + b'\x01' * 100
    jpeg = b''.join(containers.jpeg_with_metadata(encoded('.jpg'), icc, exif))
    assert containers.jpeg_layout(jpeg) == {'size': (12, 8), 'exif': exif, 'icc': icc, 'components': 3}
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (8, 12, 3)


def test_metadata_too_large_for_jpeg_is_left_out_not_fatal():
    exif = containers.EXIF_PREFIX + b'\0' * containers.JPEG_SEGMENT_BODY     # one byte too many
    icc = b'\1' * (256 * containers.ICC_CHUNK)                                # 256 chunks: one too many
    jpeg = b''.join(containers.jpeg_with_metadata(encoded('.jpg'), icc, exif))
    assert containers.jpeg_layout(jpeg) == {'size': (12, 8), 'exif': None, 'icc': None, 'components': 3}


def test_png_metadata_reads_back_exactly():
    icc, exif = b'profile' * 1000, containers.EXIF_PREFIX + b'II*\x00' + b'\2' * 50
    png = b''.join(containers.png_with_metadata(encoded('.png'), icc, exif))
    assert containers.png_layout(png) == {'size': (12, 8), 'exif': exif, 'icc': icc}


@pytest.mark.parametrize('ext, kind', [('.jpg', 'jpeg'), ('.png', 'png'), ('.webp', 'webp')])
def test_a_file_cut_short_is_damaged_with_the_fix_and_no_name(ext, kind):
    data = encoded(ext)
    with pytest.raises(containers.LayoutError) as e:
        containers.layout(data[:len(data) * 2 // 3], kind)
    assert str(e.value).startswith('truncated or corrupt ') and str(e.value).endswith('re-export or re-copy it')


def test_item_properties_walk_meta_iprp_ipco():
    def box(kind, body):
        return (8 + len(body)).to_bytes(4, 'big') + kind + body
    pixi = box(b'pixi', b'\0\0\0\0\3\x0a\x0a\x0a')
    colr = box(b'colr', b'nclx\0\x09\0\x10\0\x09\x80')
    data = box(b'ftyp', b'avif') + box(b'meta', b'\0\0\0\0' + box(b'hdlr', b'') + box(b'iprp', box(b'ipco', pixi + colr)))
    assert containers.item_properties(data) == [(b'pixi', pixi[8:]), (b'colr', colr[8:])]
    assert containers.item_properties(data[:-3]) == []     # a box that runs past its parent is not read
