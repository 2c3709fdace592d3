"""Every model knows the inputs it was trained for (domain.py): a photo unlike all of them, a flat
frame or a black-and-white photo given to a colour model warns (the result is still made), and
ordinary inputs of the model's own kind do not, even just past the edge of a statistic's range."""
import json
import os
import re

import cv2
import numpy as np
import pytest
from skimage import data as skdata
from starlette.testclient import TestClient

import configurator
import data
import develop
import domain
import editor
import evaluate
import image_io
import model_folder
from conftest import SHARED_DATA

SINTEL = os.path.join(configurator.PROJECT_DIR, 'models', 'sintel', 'pretrained')


def random_view(rng, brightness=None):
    """A 64x64 view of the kind a made-up model was trained on: smooth colour shapes at a random level,
    contrast and colourfulness (brightness: the level, else drawn from 0.2-0.6)."""
    base = cv2.resize(rng.uniform(size=(6, 6, 3)).astype(np.float32), (64, 64), interpolation=cv2.INTER_CUBIC)
    grey = base.mean(-1, keepdims=True)
    colourful = rng.uniform(0.2, 1.0)
    img = grey + colourful * (base - grey)
    img = (img - img.mean()) * rng.uniform(0.3, 0.8)
    return np.clip(img + (rng.uniform(0.2, 0.6) if brightness is None else brightness), 0, 1).astype(np.float32)


@pytest.fixture(scope='module')
def made_up():
    """A made-up model's domain, recorded from 2,000 views, and 1,000 more views of the same kind."""
    rng = np.random.default_rng(1)
    training = [image_io.image_statistics(random_view(rng)) for _ in range(2000)]
    return domain.from_statistics(training, 'display'), [random_view(rng) for _ in range(1000)]


def test_inputs_of_the_models_own_kind_stay_quiet(made_up):
    """About 1% of the model's own kind fall outside the range of 99% of its inputs in a statistic (and
    the range rule warned about them, 'far outside'); past the edge by a clear margin, none."""
    input_domain, views = made_up
    stats = np.array([image_io.image_statistics(v) for v in views])
    past_a_range = sum(any(not input_domain[name][0] <= value <= input_domain[name][-1]
                           for name, value in zip(domain.STATISTICS, s)) for s in stats)
    assert past_a_range >= 10                    # the old rule would have warned about these
    assert sum(domain.check(input_domain, v) is not None for v in views) == 0


def test_a_photo_far_from_all_training_inputs_warns_and_says_how_far(made_up):
    input_domain, _ = made_up
    bright = random_view(np.random.default_rng(7), brightness=0.95)
    finding = domain.check(input_domain, bright)
    assert finding.kind == 'far' and finding.edges > domain.MARGIN
    message = finding.describe('made/up')
    assert f"{finding.edges:.2f} times as far from its nearest training inputs" in message
    assert re.search(r"brightness 0\.\d\d \(99% of its training inputs: 0\.\d\d-0\.\d\d\)", message)
    assert "--encoding if the file's values are not 'display'" in message


def test_a_flat_frame_warns_even_if_the_model_saw_some(made_up):
    input_domain, _ = made_up
    black = np.zeros((64, 64, 3), np.float32)
    with_black_frames = domain.from_statistics(input_domain['statistics'] + [image_io.image_statistics(black)] * 30,
                                               'display')
    for d in (input_domain, with_black_frames):
        assert domain.check(d, black).kind == 'flat'
        assert domain.check(d, np.full((64, 64, 3), 0.98, np.float32)).kind == 'flat'
    # A dark photo stored linear is not flat: as shown on a screen it has contrast.
    dark = random_view(np.random.default_rng(3), brightness=0.5) ** 2.2 * 0.02
    linear = dict(input_domain, encoding='linear')
    assert image_io.image_statistics(dark)[1] < domain.FLAT and domain.check(linear, dark).kind != 'flat'


def test_black_and_white_warns_only_for_a_colour_model(made_up):
    input_domain, _ = made_up
    grey = random_view(np.random.default_rng(4)).mean(-1, keepdims=True).repeat(3, -1)
    assert domain.check(input_domain, grey).kind == 'colourless'
    assert 'a black-and-white photo' in domain.check(input_domain, grey).describe('made/up')
    stats = np.array(input_domain['statistics'])
    stats[::2, 2] = 0.0                          # half its training inputs were black and white
    assert domain.check(domain.from_statistics(stats, 'display'), grey) is None


def test_a_domain_recorded_before_the_statistics_were_kept(made_up):
    """Older input_domain.json files hold only percentiles: checked by the ranges, with the margin in
    tail widths (the 95-99.5% spread), and said so."""
    input_domain, views = made_up
    old = {k: v for k, v in input_domain.items() if k not in ('statistics', 'neighbours', 'edge')}
    assert domain.is_valid(old)
    assert sum(domain.check(old, v) is not None for v in views) <= 2
    finding = domain.check(old, random_view(np.random.default_rng(7), brightness=0.95))
    assert finding.kind == 'far' and 'tail widths past that range' in finding.describe('made/up')


def test_shipped_models_record_their_domain():
    for model in ('sintel/pretrained', 'sintel/paired', 'photos/pretrained'):
        found = model_folder.read_domain(os.path.join(configurator.PROJECT_DIR, 'models', model))
        assert found['encoding'] == 'display' and len(found['statistics']) == found['patches'] > 900
        for name in domain.STATISTICS:
            assert len(found[name]) == len(domain.PERCENTILES) and found[name] == sorted(found[name])
        # EDGE is what from_statistics measures on the stored statistics (not a number typed in).
        again = domain.from_statistics(found['statistics'], 'display')
        assert found['edge'] == pytest.approx(again['edge'], rel=1e-3)   # percentiles of rounded values
    assert model_folder.read_domain(SINTEL)['brightness'][-1] < 0.45   # dark flat renders


def test_normal_photo_warns_with_the_sintel_model(tmp_path, capsys):
    photo = str(tmp_path / 'astronaut.png')
    image_io.write_image(photo, skdata.astronaut())              # an ordinary, well-exposed sRGB photo
    assert evaluate.main(['sintel', 'pretrained', photo, '--output-dir', str(tmp_path / 'out'),
                          '--no-intermediates', '--seed', '0']) == 0
    err = capsys.readouterr().err
    assert err.count('far outside what sintel/pretrained was trained on') == 1
    edges = float(re.search(r'(\d+\.\d\d) times as far from its nearest training inputs', err).group(1))
    assert edges > 3 * domain.MARGIN
    assert 'contrast 0.59 (99% of its training inputs: 0.01-0.38)' in err and '--encoding' in err
    assert os.path.exists(tmp_path / 'out' / 'astronaut.png.retouched.png')     # the result is still made


def test_black_and_white_photo_is_named_as_such(tmp_path, capsys):
    photo = str(tmp_path / 'camera.png')
    image_io.write_image(photo, skdata.camera())                 # a greyscale photo
    assert evaluate.main(['photos', 'pretrained', photo, '--output-dir', str(tmp_path / 'out'),
                          '--no-intermediates', '--seed', '0']) == 0
    err = capsys.readouterr().err
    assert 'saturation 0.00' in err and 'a black-and-white photo' in err and 'learned from colour' in err
    assert '--encoding' not in err


def test_model_without_a_recorded_domain_does_not_warn(tmp_path):
    assert model_folder.read_domain(str(tmp_path)) is None


def test_damaged_statistics_are_named(tmp_path):
    found = json.load(open(os.path.join(SINTEL, 'input_domain.json')))
    found['statistics'][3] = ['a', 0, 0]
    (tmp_path / 'input_domain.json').write_text(json.dumps(found))
    with pytest.raises(model_folder.ModelError, match='input_domain.json is damaged'):
        model_folder.read_domain(str(tmp_path))


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, 'sintel')), reason='needs ../shared/data')
def test_sintel_frames_warn_only_when_flat_and_photos_warn():
    cfg = configurator.load_config('sintel', [f"--input_dir={os.path.join(SHARED_DATA, 'sintel', 'inputs')}"])
    input_domain = model_folder.read_domain(SINTEL)

    def warned(paths):
        return {os.path.basename(p): f.kind for p in paths
                if (f := domain.check(input_domain, develop.low_res_view(develop.read_input(p, 'display'))))}
    assert len(data.folder_split(cfg, 'input', 'val')) == 85
    assert warned(data.folder_split(cfg, 'input', 'val')) == {}
    # Its training frames include three black ones: they warn, as flat, and no other frame does.
    assert warned(data.folder_split(cfg, 'input', 'train')) == {'0150.jpg': 'flat', '0151.jpg': 'flat',
                                                                '0152.jpg': 'flat'}
    photos = image_io.list_images([os.path.join(SHARED_DATA, 'photos')])[::10]
    assert len(warned(photos)) > 0.7 * len(photos)      # most good photos are far from Sintel's renders


def test_the_editor_warns_as_evaluate_does(tmp_path):
    photo = tmp_path / 'camera.png'
    image_io.write_image(str(photo), skdata.camera())            # black and white, for a colour model
    cwd = os.getcwd()
    os.chdir(configurator.PROJECT_DIR)                           # the shipped models/photos/pretrained
    try:
        ed = editor.Editor(editor.Library([str(photo)], str(tmp_path / 'out')), 'photos', 'pretrained')
        with TestClient(editor.make_app(ed)) as client:
            draw = client.post('/api/agent', json={'name': 'camera.png', 'seed': 0}).json()
    finally:
        os.chdir(cwd)
    assert draw['steps'] and 'a black-and-white photo' in draw['warning'] and 'photos/pretrained' in draw['warning']
