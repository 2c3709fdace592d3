"""Data providers (spec 7): folder, FiveK pack and expert folder on tiny synthetic data."""
import os
import time
import types

import cv2
import numpy as np
import pytest
import tifffile

import configurator
import data

SINTEL = os.path.join(configurator.PROJECT_DIR, '..', 'shared', 'data', 'sintel')


def make_cfg(**kw):
    cfg = dict(input_kind='folder', input_dir='', input_set=None, input_encoding='display',
               target_kind='folder', target_dir='', target_set=None, target_encoding='display',
               folds_dir='', val_fraction=0.0, val_first=None, val_spread=False, seed=0, batch_size=8)
    cfg.update(kw)
    return types.SimpleNamespace(**cfg)


def write_png16(path, rgb16):
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb16[..., ::-1]))


def coordinate_image(size=80):
    """16-bit image whose R channel is y*size + x, so a patch reveals its crop window and flip."""
    y, x = np.mgrid[:size, :size]
    img = np.zeros((size, size, 3), np.uint16)
    img[..., 0] = y * size + x
    img[..., 1] = 30000
    return img


def check_windows(patches, size=80):
    """Every patch is a 64x64 window of the coordinate image at offsets 0..16, maybe flipped."""
    coords = np.rint(patches[..., 0] * 65535).astype(int)
    ys, xs, flips = [], [], []
    for c in coords:
        y0, x_first = divmod(c[0, 0], size)
        flipped = c[0, 1] < c[0, 0]
        x0 = x_first - 63 if flipped else x_first
        window = coordinate_image(size)[y0:y0 + 64, x0:x0 + 64, 0].astype(int)
        np.testing.assert_array_equal(c, window[:, ::-1] if flipped else window)
        ys.append(y0), xs.append(x0), flips.append(flipped)
    return np.array(ys), np.array(xs), np.array(flips)


# ----------------------------------------------------------------------------------------------
# split_files

def test_split_files_contiguous_and_disjoint():
    files = [f'/x/{i:04d}.jpg' for i in range(100)]
    shuffled = list(np.random.default_rng(0).permutation(files))
    train, val = data.split_files(shuffled, 0.15)
    assert len(val) == 15 and len(train) == 85          # ceil, robust to 0.15 * 100 = 15.000...02
    assert train + val == files                          # sorted; val is the last contiguous block
    assert not set(train) & set(val)
    assert data.split_files(files, 0.0) == (files, [])
    assert len(data.split_files(files[:7], 0.1)[1]) == 1  # ceil(0.7)
    with pytest.raises(ValueError):
        data.split_files(files, 1.5)


def test_split_files_block_from_val_first():
    files = [f'/x/{i:04d}.jpg' for i in range(20)]
    train, val = data.split_files(files[::-1], 0.15, val_first='0005.jpg')
    assert val == files[5:8] and train == files[:5] + files[8:]
    assert data.split_files(files, 0.15, '0017.jpg')[1] == files[17:]    # the last possible start
    with pytest.raises(data.DataError, match='runs past the last file'):
        data.split_files(files, 0.15, '0018.jpg')
    with pytest.raises(data.DataError, match="'0100.jpg' is not among"):
        data.split_files(files, 0.15, '0100.jpg')


# ----------------------------------------------------------------------------------------------
# Folder provider

def test_folder_formats_and_augmentation(tmp_path):
    img = coordinate_image()
    write_png16(tmp_path / 'a.png', img)
    tifffile.imwrite(tmp_path / 'b.tif', img, photometric='rgb')
    # 8-bit files of other sizes: only shapes are checked for these.
    cv2.imwrite(str(tmp_path / 'c.jpg'), np.full((90, 130, 3), 128, np.uint8))
    cv2.imwrite(str(tmp_path / 'd.png'), np.full((100, 100, 3), 50, np.uint8))
    (tmp_path / 'notes.txt').write_text('not an image')
    p = data.make_provider(make_cfg(input_dir=str(tmp_path)), 'input')
    assert len(p) == 4 * 4
    assert 'folder' in p.description and str(tmp_path) in p.description and '16 patches' in p.description
    batch = p.next_batch()
    assert batch.shape == (8, 64, 64, 3) and batch.dtype == np.float32
    # The 16-bit coordinate images (a.png, b.tif: the first 8 patches, since 80x80 needs no
    # resize) keep their 16 bits and are 64x64 windows at offsets 0..16, some flipped.
    ys, xs, flips = check_windows(p.patches[:8])
    assert ys.max() <= 16 and xs.max() <= 16
    # Served batches add a flip: over many draws both orientations and many offsets appear.
    patches = np.concatenate([p.next_batch() for _ in range(40)])
    coordinate_patches = patches[np.isclose(patches[:, 0, 0, 1], 30000 / 65535)]
    ys, xs, flips = check_windows(coordinate_patches)
    assert 0 < flips.mean() < 1
    assert len(set(zip(ys, xs))) > 4


def test_folder_centre_square_and_inter_area(tmp_path):
    img = np.zeros((100, 160, 3), np.uint8)
    img[:, 30:130] = 200                       # the centre 100x100 square is uniform
    cv2.imwrite(str(tmp_path / 'wide.png'), img)
    p = data.make_provider(make_cfg(input_dir=str(tmp_path)), 'input')
    np.testing.assert_allclose(p.patches, 200 / 255, atol=1e-6)


GREY = 32768 / 65535


@pytest.mark.parametrize('encoding, expected', [('display', GREY), ('linear', GREY),
                                                ('prophoto', GREY ** 1.8),
                                                ('srgb', 0.5)])   # a uniform image's max -> 0.5
def test_folder_encodings(tmp_path, encoding, expected):
    write_png16(tmp_path / 'grey.png', np.full((90, 90, 3), 32768, np.uint16))
    p = data.make_provider(make_cfg(target_dir=str(tmp_path), target_encoding=encoding), 'target')
    np.testing.assert_allclose(p.next_batch(), expected, rtol=1e-5)
    assert f'encoding {encoding}' in p.description


def test_folder_srgb_gamma(tmp_path):
    img = np.full((90, 90, 3), 65535, np.uint16)
    img[:, :45] = 32768
    write_png16(tmp_path / 'half.png', img)
    p = data.make_provider(make_cfg(input_dir=str(tmp_path), input_encoding='srgb'), 'input')
    values = np.unique(np.round(p.patches, 4))
    # The dark half is (0.5^2.2) * 0.5 (the maximum maps to 0.5); INTER_AREA blends the seam.
    assert values.max() == pytest.approx(0.5, abs=1e-4)
    assert values.min() == pytest.approx((32768 / 65535) ** 2.2 * 0.5, abs=1e-4)


@pytest.mark.parametrize('encoding', ['display', 'srgb'])
def test_folder_photos_are_trained_on_for_what_shows(tmp_path, encoding):
    """A cut-out whose transparent right part stores pure red (or black, or white): the patches are the
    same whatever it stores, and never red (the visible part is green; where nothing is visible, grey),
    nor is the 'srgb' scaling set by the hidden colours."""
    patches = []
    for name, hidden in (('red', (0, 0, 255)), ('black', (0, 0, 0)), ('white', (255, 255, 255))):   # BGR
        bgra = np.zeros((120, 160, 4), np.uint8)
        bgra[:, :, :3] = (60, 120, 60)
        bgra[:, :, 3] = 255
        bgra[:, 70:90, 3] = np.linspace(255, 0, 20).astype(np.uint8)      # a soft edge, then nothing
        bgra[:, 90:, 3] = 0
        bgra[:, 90:, :3] = hidden
        folder = tmp_path / name
        folder.mkdir()
        cv2.imwrite(str(folder / 'cutout.png'), bgra)
        patches.append(data.make_provider(make_cfg(input_dir=str(folder), input_encoding=encoding), 'input').patches)
    for other in patches[1:]:
        np.testing.assert_array_equal(other, patches[0])
    red, green = patches[0][..., 0], patches[0][..., 1]
    assert (red <= green + 1e-6).all() and green.max() == pytest.approx(0.5 if encoding == 'srgb' else 120 / 255)


def test_folder_unreadable_skipped_and_counted(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / 'good.jpg'), np.full((96, 96, 3), 99, np.uint8))
    (tmp_path / 'broken.jpg').write_bytes(b'\xff\xd8 not really a jpeg')
    (tmp_path / 'empty.png').write_bytes(b'')
    cv2.imwrite(str(tmp_path / 'invisible.png'), np.zeros((96, 96, 4), np.uint8))    # fully transparent
    p = data.make_provider(make_cfg(input_dir=str(tmp_path)), 'input')
    assert len(p) == 4
    assert '3 unreadable skipped' in p.description
    err = capsys.readouterr().err
    assert 'broken.jpg' in err and 'empty.png' in err and err.count('warning') == 3
    assert 'invisible.png: every pixel is fully transparent' in err


def test_folder_all_unreadable(tmp_path):
    (tmp_path / 'broken.jpg').write_bytes(b'garbage')
    with pytest.raises(data.DataError, match='none of the 1 images is readable'):
        data.make_provider(make_cfg(input_dir=str(tmp_path)), 'input')


def test_folder_empty_or_missing(tmp_path):
    (tmp_path / 'readme.txt').write_text('no images here')
    with pytest.raises(data.DataError) as e:
        data.make_provider(make_cfg(input_dir=str(tmp_path)), 'input')
    # One's own folder: a download would not fill it. Where config_sintel's frames go, it would.
    assert str(tmp_path) in str(e.value) and 'fetch_fivek' not in str(e.value)
    assert '--input_dir=' in str(e.value)
    with pytest.raises(data.DataError, match='folder not found; run `python fetch_fivek.py --sintel`'):
        data.make_provider(make_cfg(input_dir=str(tmp_path / 'data' / 'sintel' / 'inputs')), 'input')
    with pytest.raises(data.DataError, match='folder not found.*--target_dir='):
        data.make_provider(make_cfg(target_dir=str(tmp_path / 'nope')), 'target')


def test_folder_too_small(tmp_path):
    cv2.imwrite(str(tmp_path / 'big.png'), np.zeros((100, 100, 3), np.uint8))
    cv2.imwrite(str(tmp_path / 'tiny.png'), np.zeros((60, 200, 3), np.uint8))
    with pytest.raises(data.DataError, match=r'tiny\.png \(200x60\)'):
        data.make_provider(make_cfg(input_dir=str(tmp_path)), 'input')


def test_folder_bad_encoding(tmp_path):
    cv2.imwrite(str(tmp_path / 'a.png'), np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(data.DataError, match='input_encoding'):
        data.make_provider(make_cfg(input_dir=str(tmp_path), input_encoding='rec709'), 'input')


def test_folder_val_split(tmp_path):
    for i in range(10):
        cv2.imwrite(str(tmp_path / f'{i:04d}.png'), np.full((81, 81, 3), 20 * i, np.uint8))
    cfg = make_cfg(input_dir=str(tmp_path), val_fraction=0.2)
    train = data.make_provider(cfg, 'input', 'train')
    val = data.make_provider(cfg, 'input', 'val')
    assert len(train) == 32 and len(val) == 8
    # Images are uniform, so each patch's value names its frame: 8 and 9 are validation only.
    frames = lambda p: set(np.rint(p.patches[:, 0, 0, 0] * 255 / 20).astype(int))
    assert frames(train) == set(range(8)) and frames(val) == {8, 9}
    assert data.folder_split(cfg, 'input', 'val') == [str(tmp_path / '0008.png'),
                                                      str(tmp_path / '0009.png')]
    with pytest.raises(data.DataError, match='val_fraction'):
        data.make_provider(make_cfg(input_dir=str(tmp_path)), 'input', 'val')
    cfg.val_first = '0003.png'                           # a block inside the sequence
    assert frames(data.make_provider(cfg, 'input', 'val')) == {3, 4}
    assert frames(data.make_provider(cfg, 'input', 'train')) == set(range(10)) - {3, 4}


# ----------------------------------------------------------------------------------------------
# Serving: shuffling without replacement, prefetch, seeds

def uniform_folder(folder, count):
    for i in range(count):
        cv2.imwrite(str(folder / f'{i:04d}.png'), np.full((80, 80, 3), i + 1, np.uint8))


def test_epochs_without_replacement_and_odd_sizes(tmp_path):
    uniform_folder(tmp_path, 2)   # 8 patches: an epoch is one default batch
    p = data.make_provider(make_cfg(input_dir=str(tmp_path)), 'input')
    for _ in range(3):
        ids = np.rint(p.next_batch()[:, 0, 0, 0] * 255).astype(int)
        assert sorted(ids) == [1] * 4 + [2] * 4
    assert p.next_batch(3).shape == (3, 64, 64, 3)      # another size: made synchronously
    assert p.next_batch(20).shape == (20, 64, 64, 3)    # larger than the data: reshuffles


def test_close_stops_the_prefetch_thread(tmp_path):
    uniform_folder(tmp_path, 2)
    p = data.make_provider(make_cfg(input_dir=str(tmp_path)), 'input')
    p.next_batch()
    time.sleep(0.3)   # the thread refills the queue and then waits on it
    p.close()
    assert not p._thread.is_alive()
    with pytest.raises(RuntimeError, match='after close'):
        p.next_batch()
    assert p.next_batch(3).shape == (3, 64, 64, 3)   # other sizes are drawn on the caller's thread


def test_seed_repeatable(tmp_path):
    write_png16(tmp_path / 'a.png', coordinate_image())
    cfg = make_cfg(input_dir=str(tmp_path), target_dir=str(tmp_path), seed=7)
    a, b = data.make_provider(cfg, 'input'), data.make_provider(cfg, 'input')
    for _ in range(3):
        np.testing.assert_array_equal(a.next_batch(), b.next_batch())
    np.testing.assert_array_equal(a.next_batch(5), b.next_batch(5))
    other = data.make_provider(cfg, 'target')   # another role draws another stream
    assert not np.array_equal(other.next_batch(), a.next_batch())


# ----------------------------------------------------------------------------------------------
# FiveK pack and expert folder

def write_folds(folder):
    folder.mkdir()
    (folder / 'FiveK_train_first2k.txt').write_text('# ids of the agent inputs\n2\n5\n')
    (folder / 'FiveK_train_second2k.txt').write_text('3\n4\n')   # no header, as in the original
    (folder / 'FiveK_test.txt').write_text('#\n1\n6\n')
    (folder / 'FiveK_test_AMT.txt').write_text('6\n')


def test_fivek_pack(tmp_path):
    write_folds(tmp_path / 'folds')
    pack = np.zeros((4 * 6, 80, 80, 3), np.float32)
    pack[..., 0] = np.arange(len(pack))[:, None, None] // 4 + 1      # channel 0: photo id
    pack[..., 1] = coordinate_image()[..., 0] / 65535                # channel 1: position
    (tmp_path / 'pack').mkdir()
    np.save(tmp_path / 'pack' / 'image_raw.npy', pack)
    cfg = make_cfg(input_kind='fivek_pack', input_dir=str(tmp_path / 'pack'), input_set='2k_train',
                   input_encoding='linear', folds_dir=str(tmp_path / 'folds'))
    p = data.make_provider(cfg, 'input')
    assert len(p) == 8 and isinstance(p.patches, np.memmap)
    np.testing.assert_array_equal(p.index, [4, 5, 6, 7, 16, 17, 18, 19])
    batches = np.concatenate([p.next_batch() for _ in range(40)])
    ids = batches[:, 0, 0, 0]
    assert set(ids) == {2, 5} and (ids == 2).sum() == (ids == 5).sum()   # whole epochs
    windows = batches.copy()
    windows[..., 0] = windows[..., 1]
    ys, xs, flips = check_windows(windows)
    assert ys.min() == 0 and ys.max() == 16 and xs.min() == 0 and xs.max() == 16
    assert 0.3 < flips.mean() < 0.7
    val = data.make_provider(cfg, 'input', 'val')     # the FiveK test fold
    assert set(val.next_batch()[:, 0, 0, 0]) == {1, 6}
    cfg.input_set = 'u_amt'
    assert set(data.make_provider(cfg, 'input').next_batch()[:, 0, 0, 0]) == {6}


def test_fivek_pack_missing(tmp_path):
    write_folds(tmp_path / 'folds')
    cfg = make_cfg(input_kind='fivek_pack', input_dir=str(tmp_path), input_set='2k_train',
                   input_encoding='linear', folds_dir=str(tmp_path / 'folds'))
    with pytest.raises(data.DataError, match=r'image_raw\.npy.*python fetch_fivek\.py'):
        data.make_provider(cfg, 'input')
    cfg.folds_dir = str(tmp_path / 'nofolds')
    with pytest.raises(data.DataError, match='FiveK_train_first2k.txt'):
        data.make_provider(cfg, 'input')


def test_fivek_expert(tmp_path):
    write_folds(tmp_path / 'folds')
    experts = tmp_path / 'FiveK_C'
    experts.mkdir()
    for k in range(1, 7):
        cv2.imwrite(str(experts / f'{k:04d}-a{k}.jpg'), np.full((90, 120, 3), 40 * k, np.uint8))
    cfg = make_cfg(target_kind='fivek_expert', target_dir=str(experts), target_set='2k_target',
                   folds_dir=str(tmp_path / 'folds'))
    p = data.make_provider(cfg, 'target')
    assert len(p) == 8 and 'set 2k_target' in p.description
    values = np.rint(p.next_batch()[:, 0, 0, 0] * 255 / 40).astype(int)
    assert sorted(values) == [3] * 4 + [4] * 4
    os.rename(experts / '0004-a4.jpg', experts / '0009-a4.jpg')
    with pytest.raises(data.DataError, match='0004'):
        data.make_provider(cfg, 'target')


# ----------------------------------------------------------------------------------------------
# Command line and real data

def test_list_command(tmp_path, capsys):
    pytest.importorskip('filters')   # configs import the filter classes
    uniform_folder(tmp_path, 20)
    data.main(['sintel', '--list', 'val', f'--input_dir={tmp_path}', '--val_first=0005.png'])
    listed = capsys.readouterr().out.split()
    assert listed == [str(tmp_path / f'{i:04d}.png') for i in (5, 6, 7)]   # ceil(0.15 * 20)
    with pytest.raises(SystemExit, match=r"val_first '0345.jpg' is not among the 20 files .*--val_first=None"):
        data.main(['sintel', '--list', 'val', f'--input_dir={tmp_path}'])   # config_sintel's block


@pytest.mark.skipif(not os.path.isdir(SINTEL), reason='needs ../shared/data/sintel')
def test_sintel_folder():
    cfg = make_cfg(input_dir=os.path.join(SINTEL, 'inputs'), val_fraction=0.15, val_first='0345.jpg',
                   batch_size=64)
    files = data.folder_split(cfg, 'input', 'train') + data.folder_split(cfg, 'input', 'val')
    val = [os.path.basename(f) for f in data.folder_split(cfg, 'input', 'val')]
    assert (len(val), val[0], val[-1]) == (85, '0345.jpg', '0509.jpg')
    p = data.make_provider(cfg, 'input', 'val')
    assert len(p) == 4 * (len(files) - len(data.folder_split(cfg, 'input', 'train')))
    batch = p.next_batch()
    assert batch.shape == (64, 64, 64, 3) and 0 <= batch.min() and batch.max() <= 1
