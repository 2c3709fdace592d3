"""evaluate.py's side of a bad-input corpus generated here (no shared data): truncated JPEG, PNG and
TIFF, an empty file, a text file named .jpg, a folder named x.jpg (inside a folder and given by
name), an empty folder, photos with the same name in two folders, next to good 8- and 16-bit photos;
then an unwritable output folder and malformed recipes.

Every run is in-process (main(argv)); most re-apply a recipe (no network), one runs a small untrained
model. For each case: a named error or a correct result, never a traceback; the other photos are
still processed; the exit status is 1 when anything was skipped (2 when nothing could be done); and
the inputs, read-only, are untouched (same bytes, same modes).
"""
import hashlib
import io
import json
import os
import stat

import cv2
import numpy as np
import pytest
import tifffile

import configurator
import evaluate
import net

H, W = 48, 64


def picture(dtype=np.uint8, seed=0):
    """A smooth colour picture with a little noise (real JPEG data in every block), RGB samples."""
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.dstack([x / W, y / H, (x + y) / (H + W)]) + np.random.default_rng(seed).normal(0, 0.02, (H, W, 3))
    return np.round(np.clip(rgb, 0, 1) * np.iinfo(dtype).max).astype(dtype)


def encoded(ext, samples):
    if ext == '.tif':
        buf = io.BytesIO()
        tifffile.imwrite(buf, samples, photometric='rgb')
        return buf.getvalue()
    return cv2.imencode(ext, samples[..., ::-1])[1].tobytes()     # OpenCV takes BGR


GOOD = {'good.jpg': encoded('.jpg', picture()), 'good.png': encoded('.png', picture(seed=1)),
        'good16.png': encoded('.png', picture(np.uint16, 2)), 'good16.tif': encoded('.tif', picture(np.uint16, 3)),
        'A/IMG_1.JPG': encoded('.jpg', picture(seed=4)), 'B/IMG_1.JPG': encoded('.jpg', picture(seed=5))}
BAD = {   # file: (content, what the error says)
    'cut.jpg': (GOOD['good.jpg'][:len(GOOD['good.jpg']) // 2], 'truncated or corrupt JPEG file'),
    'cut.png': (GOOD['good.png'][:len(GOOD['good.png']) // 2], 'truncated or corrupt PNG file'),
    'cut.tif': (GOOD['good16.tif'][:len(GOOD['good16.tif']) // 2], 'truncated or corrupt TIFF file'),
    'empty.jpg': (b'', 'empty file'),
    'text.jpg': (b'a note, not a photo\n', 'cannot decode: the content is not JPEG, PNG or TIFF'),
    'x.jpg': (None, 'is a folder, not an image'),                     # a folder with a photo's name
}
FOLDERS = ['', 'A', 'B']                                    # the shoot's folders given on the command line
# Folders given by name that hold no images (in a folder that is not given itself).
EMPTY = {'other/given.jpg': 'a folder without images', 'other/nothing': 'a folder without images'}


@pytest.fixture(scope='module')
def shoot(tmp_path_factory):
    """The corpus, read-only: {relative path: sha256} of every file, and its folder."""
    root = tmp_path_factory.mktemp('corpus') / 'shoot'
    for name, content in [*GOOD.items(), *((n, c) for n, (c, _) in BAD.items())]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)
    for name in EMPTY:
        (root / name).mkdir(parents=True)
    for path in root.rglob('*'):
        if path.is_file():
            path.chmod(0o444)
    yield root
    for path in root.rglob('*'):
        path.chmod(0o755 if path.is_dir() else 0o644)


def fingerprint(root):
    """Every file's bytes and mode, and every folder's listing: what must not change."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else
                                       sorted(os.listdir(p)), stat.S_IMODE(p.stat().st_mode))
            for p in [root, *root.rglob('*')]}


def items(root):
    return [str(root / f) for f in FOLDERS] + [str(root / f) for f in EMPTY]


def check_run(root, out, code, captured, before):
    """The checks every corpus run shares (see the module docstring)."""
    assert code == 1, captured.err
    assert 'Traceback' not in captured.err + captured.out
    for name, (_, reason) in BAD.items():
        assert f'{root / name}: {reason}' in captured.err, name
    for name, reason in EMPTY.items():
        assert f'skipped: {root / name}: {reason}' in captured.err, name
    skipped = len(BAD) + len(EMPTY)
    assert captured.err.count('skipped: ') == skipped
    total = len(GOOD) + len(BAD)             # the folder x.jpg among them: it is listed by its name
    assert f'{len(GOOD)} of {total} images retouched' in captured.out
    assert f'{skipped} skipped (see above)' in captured.out
    # Same names in two folders: the folders are repeated below the output folder, so both are kept,
    # and so are all the others (the rule applies to every input of the run).
    for name, content in GOOD.items():
        result = cv2.imread(str(out / f'{name}.retouched.png'), cv2.IMREAD_UNCHANGED)
        assert result is not None and result.shape == (H, W, 3), name
    assert not list(out.rglob('.tmp-*'))
    assert fingerprint(root) == before


def test_recipe_run_over_the_corpus(shoot, tmp_path, capsys):
    recipe = tmp_path / 'edit.steps.json'
    recipe.write_text(json.dumps({'input_encoding': 'auto', 'steps': [
        {'class': 'ExposureFilter', 'parameters': [0.7]}, {'class': 'GammaFilter', 'parameters': [0.6]},
        {'class': 'SaturationPlusFilter', 'parameters': [0.5]}]}))
    before = fingerprint(shoot)
    out = tmp_path / 'out'
    code = evaluate.main(['--recipe', str(recipe), *items(shoot), '--output-dir', str(out), '--lut'])
    check_run(shoot, out, code, capsys.readouterr(), before)
    assert (out / 'A' / 'IMG_1.JPG.cube').exists() and (out / 'good16.tif.intermediate01.png').exists()


def test_model_run_over_the_corpus(shoot, tmp_path, monkeypatch, capsys):
    cfg = configurator.load_config('sintel', ['--seed=0'])
    model_dir = tmp_path / 'models' / 'sintel' / 'tiny'
    net.GAN(cfg).save_actor(str(model_dir / 'actor'))
    monkeypatch.chdir(tmp_path)
    before = fingerprint(shoot)
    out = tmp_path / 'out'
    code = evaluate.main(['sintel', 'tiny', *items(shoot), '--output-dir', str(out), '--seed', '1',
                          '--no-intermediates', '--batch-size', '4'])
    check_run(shoot, out, code, capsys.readouterr(), before)
    assert json.load(open(out / 'B' / 'IMG_1.JPG.steps.json'))['source'] == 'IMG_1.JPG'


def unwritable(tmp_path):
    """An output folder nobody may write in: read-only for a normal user; root writes anywhere but
    in sysfs."""
    if os.geteuid() != 0:
        folder = tmp_path / 'locked'
        folder.mkdir(mode=0o555)
        return str(folder)
    if not os.path.isdir('/sys/kernel'):
        pytest.skip('running as root without sysfs: no folder is unwritable')
    return '/sys/exposure-test'


BAD_RECIPES = {
    'cut.steps.json': ('{"steps": [{"class": "GammaFilter", "param', 'is not valid JSON'),
    'nan.steps.json': ('{"steps": [{"class": "GammaFilter", "parameters": [NaN]}]}',
                       'step 1 (gamma): parameter 1 is nan'),
    'short.steps.json': ('{"steps": [{"class": "ColorFilter", "parameters": [1, 1]}]}',
                         'step 1 (color): 2 parameters, but color takes 24'),
    'empty.steps.json': ('', 'is not valid JSON'),
}


@pytest.mark.parametrize('case', ['unwritable output', *BAD_RECIPES])
def test_runs_that_cannot_start_say_why_and_touch_nothing(shoot, tmp_path, capsys, case):
    recipe = tmp_path / (case if case in BAD_RECIPES else 'good.steps.json')
    content, expected = BAD_RECIPES.get(case, (
        '{"steps": [{"class": "ExposureFilter", "parameters": [1]}]}', 'cannot write there'))
    recipe.write_text(content)
    out = unwritable(tmp_path) if case == 'unwritable output' else str(tmp_path / 'out')
    before = fingerprint(shoot)
    assert evaluate.main(['--recipe', str(recipe), *items(shoot), '--output-dir', out]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and expected in err, err
    assert not os.path.exists(tmp_path / 'out')
    assert fingerprint(shoot) == before


def test_options_after_the_images_and_double_dash():
    """Options may follow the images, and `--` ends the options so a file may be named like one (both were
    'unrecognized arguments')."""
    import evaluate
    args = evaluate.parse_args(['photos', 'pretrained', 'a.png', '--seed', '0', 'b.png', '--', '-c.png', '--seed'])
    assert (args.config, args.model, args.images, args.seed) == ('photos', 'pretrained', ['a.png', 'b.png', '-c.png', '--seed'], 0)
