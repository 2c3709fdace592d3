"""A corpus of bad inputs, generated here (no shared data): truncations of every supported format at
several lengths, lying headers, wrong extensions, empty and text files, orientation-tagged JPEGs.

Every file must give a correct picture or an ImageError naming it, never another exception: in
image_io.read_samples, in training's data loading (skipped with a warning, the rest loaded) and in
score.py (skipped and counted). Also: a training start that fails leaves nothing for the next
command to inherit, and nonsense counts are refused. No models are built; images are small.
"""
import io
import os

import cv2
import numpy as np
import pytest
import tifffile

import configurator
import containers
import data
import image_io
import score
import train

H, W = 96, 128            # at least 80 px on the short side: what training accepts
CUTS = (0.01, 0.3, 0.7, 0.98, -1)     # fractions of the file kept; -1: all but the last byte


def picture(dtype=np.uint8):
    """A smooth colour picture (real JPEG data in every block), as RGB samples."""
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.dstack([x / W, y / H, (x + y) / (H + W)])
    return np.round(rgb * np.iinfo(dtype).max).astype(dtype)


def encode(ext, samples):
    ok, buf = cv2.imencode(ext, samples[..., ::-1])     # OpenCV takes BGR
    assert ok
    return buf.tobytes()


def tiff(samples):
    buf = io.BytesIO()
    tifffile.imwrite(buf, samples, photometric='rgb')
    return buf.getvalue()


def oriented_jpeg(orientation):
    from PIL import Image
    exif = Image.Exif()
    exif[image_io.ORIENTATION_TAG] = orientation
    buf = io.BytesIO()
    Image.fromarray(picture()).save(buf, 'JPEG', quality=95, exif=exif.tobytes())
    return buf.getvalue()


def huge_png():
    import struct
    import zlib
    header = struct.pack('>IIBBBBB', 100_000, 100_000, 8, 2, 0, 0, 0)
    return (containers.PNG_SIGNATURE + containers.png_chunk(b'IHDR', header)
            + containers.png_chunk(b'IDAT', zlib.compress(b'\0' * 300)) + containers.png_chunk(b'IEND', b''))


def huge_jpeg():
    jpeg = bytearray(encode('.jpg', picture()))
    sof = jpeg.index(b'\xff\xc0')
    jpeg[sof + 5:sof + 9] = b'\xff\xff\xff\xff'        # 65535 x 65535 in the frame header
    return bytes(jpeg)


def decoded(data, name):
    """What a correct reader returns for an intact file: OpenCV's (or tifffile's) samples as RGB."""
    if name.endswith('tiff'):
        return tifffile.imread(io.BytesIO(data))
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)[..., ::-1]


def truncations(content):
    """The file cut at each of CUTS."""
    return {cut: content[:cut] if cut < 0 else content[:max(1, int(len(content) * cut))] for cut in CUTS}


def corpus():
    """{file name: (bytes, expected samples or None for "must be an ImageError")}."""
    intact = {'jpeg.jpg': encode('.jpg', picture()), 'png8.png': encode('.png', picture()),
              'png16.png': encode('.png', picture(np.uint16)), 'tiff8.tif': tiff(picture()),
              'tiff16.tif': tiff(picture(np.uint16))}
    files = {name: (content, decoded(content, name.split('.')[0])) for name, content in intact.items()}
    for name, content in intact.items():
        stem, ext = name.split('.')
        files.update({f'{stem}-cut{cut}.{ext}': (kept, None) for cut, kept in truncations(content).items()})
    fake_raw = tiff(picture(np.uint16))         # TIFF inside, but no camera RAW: LibRaw refuses it
    files.update({f'fake-cut{cut}.dng': (kept, None) for cut, kept in truncations(fake_raw).items()})
    files['fake.nef'] = (fake_raw, None)
    files['huge-png.png'], files['huge-jpeg.jpg'] = (huge_png(), None), (huge_jpeg(), None)
    # Wrong extensions: decoded by content, as the file really is.
    for name, source in (('png-named.jpg', 'png8.png'), ('png16-named.tif', 'png16.png'),
                         ('jpeg-named.png', 'jpeg.jpg'), ('tiff-named.png', 'tiff16.tif')):
        files[name] = files[source]
    for ext in ('jpg', 'png', 'tif', 'dng'):     # names unique without extension: score.py pairs by them
        files[f'empty-{ext}.{ext}'] = (b'', None)
        files[f'text-{ext}.{ext}'] = (b'Hello, this is not an image.\n' * 20, None)
    files['html.jpg'] = (b'<!DOCTYPE html><html><body>404</body></html>', None)
    for orientation in (3, 6, 8):
        jpeg = oriented_jpeg(orientation)
        files[f'oriented{orientation}.jpg'] = (jpeg, viewed(jpeg))
    return files


def viewed(jpeg):
    """The picture as a viewer shows it: Pillow's rendering of the orientation tag."""
    from PIL import Image, ImageOps
    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(jpeg))))


CORPUS = corpus()
BAD = sorted(name for name, (_, samples) in CORPUS.items() if samples is None)
GOOD = sorted(set(CORPUS) - set(BAD))


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp('corpus')
    for name, (content, _) in CORPUS.items():
        (path / name).write_bytes(content)
    return path


@pytest.mark.parametrize('name', BAD)
def test_bad_file_is_a_named_image_error(folder, name):
    with pytest.raises(image_io.ImageError) as e:
        image_io.read_image(str(folder / name))
    assert str(folder / name) in str(e.value)


@pytest.mark.parametrize('name', GOOD)
def test_good_file_reads_correctly(folder, name):
    samples = image_io.read_samples(str(folder / name))
    want = CORPUS[name][1]
    assert samples.dtype == want.dtype and samples.shape == want.shape
    np.testing.assert_array_equal(samples, want)


def test_wording_of_the_main_cases(folder):
    reasons = {'jpeg-cut0.7.jpg': 'truncated or corrupt JPEG', 'png16-cut-1.png': 'truncated or corrupt PNG',
               'tiff8-cut0.98.tif': 'truncated or corrupt TIFF', 'fake-cut0.3.dng': 'cannot decode camera RAW',
               'huge-png.png': 'image too large (100000x100000: 10,000 megapixels, over the limit of 400',
               'huge-jpeg.jpg': 'image too large (65535x65535: 4,295 megapixels', 'empty-png.png': 'empty file',
               'text-jpg.jpg': 'the content is not JPEG, PNG or TIFF', 'html.jpg': 'the content is not JPEG'}
    for name, reason in reasons.items():
        with pytest.raises(image_io.ImageError, match='re-export or re-copy it' if 'truncated' in reason else None) as e:
            image_io.read_image(str(folder / name))
        assert reason in str(e.value), name


def test_training_data_skips_bad_files_with_a_warning(folder, capsys):
    cfg = configurator.load_config('sintel', [f'--input_dir={folder}', '--val_fraction=0.0', '--batch_size=4'])
    provider = data.make_provider(cfg, 'input', 'train', seed=0)
    err = capsys.readouterr().err
    for name in BAD:
        assert str(folder / name) in err, name
    assert err.count('warning') == len(BAD)
    assert len(provider) == data.COPIES * len(GOOD)
    assert provider.next_batch().shape == (4, data.PATCH_SIZE, data.PATCH_SIZE, 3)


def test_scoring_skips_bad_files_and_scores_the_rest(folder, tmp_path):
    targets = tmp_path / 'targets'
    targets.mkdir()
    for name in GOOD:
        image_io.write_image(str(targets / (name.rsplit('.', 1)[0] + '.png')), image_io.read_image(str(folder / name)))
    messages = []
    result = score.score_folders(str(folder), str(targets), log=messages.append)
    counts = result['counts']
    assert counts['skipped'] == len(BAD) and counts['outputs'] == len(GOOD)
    assert counts['paired'] == len(GOOD) and result['paired_metrics']['psnr'] == float('inf')
    assert all(any(str(folder / name) in m for m in messages) for name in BAD)


# ----------------------------------------------------------------------------------------------
# Training starts that fail, and counts no run can use

@pytest.fixture
def empty_inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'empty').mkdir()
    return [f'--input_dir={tmp_path / "empty"}', f'--target_dir={tmp_path / "empty"}']


def test_failed_start_leaves_no_model_folder(empty_inputs):
    # It used to leave config.json, and the next command inherited its overrides.
    with pytest.raises(SystemExit, match='no images'):
        train.main(['sintel', 'fresh', '--max_iter_step=7'] + empty_inputs)
    assert not os.path.exists(os.path.join('models', 'sintel', 'fresh'))


def test_failed_start_restores_an_existing_model(empty_inputs, monkeypatch):
    model = os.path.join('models', 'sintel', 'old')
    monkeypatch.setattr(train, 'train', lambda cfg, model_dir: 0)
    assert train.main(['sintel', 'old', '--max_iter_step=9']) == 0
    files = {name: open(os.path.join(model, name), 'rb').read() for name in train.START_FILES}

    def fails(cfg, model_dir):
        raise SystemExit('error: no images')
    monkeypatch.setattr(train, 'train', fails)
    with pytest.raises(SystemExit):
        train.main(['sintel', 'old', '--max_iter_step=7'] + empty_inputs)
    assert {name: open(os.path.join(model, name), 'rb').read() for name in train.START_FILES} == files


def test_a_run_that_saved_a_checkpoint_keeps_its_config(empty_inputs, monkeypatch):
    def saves_then_crashes(cfg, model_dir):
        with open(os.path.join(model_dir, train.CHECKPOINT_LIST), 'w') as f:
            f.write('model_checkpoint_path: "model.ckpt-500"\n')
        raise RuntimeError('crash after a checkpoint')
    monkeypatch.setattr(train, 'train', saves_then_crashes)
    with pytest.raises(RuntimeError):
        train.main(['sintel', 'saved', '--max_iter_step=7'])
    snapshot = configurator.load_snapshot(os.path.join('models', 'sintel', 'saved', 'config.json'))
    assert snapshot.max_iter_step == 7


@pytest.mark.parametrize('override, message', [
    ('--max_iter_step=-5', 'max_iter_step=-5: it must be a whole number of at least 0'),
    ('--batch_size=0', 'batch_size=0'), ('--giters=0', 'giters=0'), ('--citers=-1', 'citers=-1'),
    ('--checkpoint_interval=0', 'checkpoint_interval=0'), ('--test_steps=0', 'test_steps=0'),
    ('--batch_size=True', 'batch_size=True'),
    ('--replay_memory_size=8', 'replay_memory_size=8 is smaller than batch_size=64'),
])
def test_nonsense_counts_are_refused_before_anything_is_written(tmp_path, monkeypatch, override, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match=message):
        train.main(['sintel', 'bad', override])
    assert not os.path.exists('models')
