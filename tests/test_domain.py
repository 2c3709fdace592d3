"""Every model knows the inputs it was trained for: the shipped Sintel model warns about a normal
photo (still retouching it) and not about its own held-out frames."""
import os

import pytest
from skimage import data as skdata

import configurator
import data
import develop
import evaluate
import model_folder
import image_io
from conftest import SHARED_DATA

SINTEL = os.path.join(configurator.PROJECT_DIR, 'models', 'sintel', 'pretrained')


def test_shipped_model_records_its_domain():
    domain = model_folder.read_domain(SINTEL)
    assert domain['encoding'] == 'display'
    for name in data.DOMAIN_STATISTICS:
        assert len(domain[name]) == len(data.DOMAIN_PERCENTILES) and domain[name] == sorted(domain[name])
    assert domain['brightness'][-1] < 0.45      # dark flat renders: a normal photo (~0.45) is beyond


def test_normal_photo_warns_with_the_sintel_model(tmp_path, capsys):
    photo = str(tmp_path / 'chelsea.png')
    image_io.write_image(photo, skdata.chelsea())                # an ordinary, well-exposed sRGB photo
    assert evaluate.main(['sintel', 'pretrained', photo, '--output-dir', str(tmp_path / 'out'),
                          '--no-intermediates', '--seed', '0']) == 0
    err = capsys.readouterr().err
    assert err.count('far outside what sintel/pretrained was trained on') == 1
    assert 'brightness' in err and 'brightness 0.46 (99% of its training inputs: 0.00-0.42)' in err and '--encoding' in err
    assert os.path.exists(tmp_path / 'out' / 'chelsea.png.retouched.png')     # the result is still made


def test_black_and_white_photo_is_named_as_such(tmp_path, capsys):
    photo = str(tmp_path / 'camera.png')
    image_io.write_image(photo, skdata.camera())                 # a greyscale photo
    assert evaluate.main(['photos', 'pretrained', photo, '--output-dir', str(tmp_path / 'out'),
                          '--no-intermediates', '--seed', '0']) == 0
    err = capsys.readouterr().err
    assert 'saturation 0.00' in err and 'a black-and-white photo, and the model learned from colour' in err and '--encoding' not in err


def test_model_without_a_recorded_domain_does_not_warn(tmp_path):
    assert model_folder.read_domain(str(tmp_path)) is None


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, 'sintel')), reason='needs ../shared/data')
def test_held_out_sintel_frames_do_not_warn():
    cfg = configurator.load_config('sintel', [f"--input_dir={os.path.join(SHARED_DATA, 'sintel', 'inputs')}"])
    domain = model_folder.read_domain(SINTEL)
    frames = data.folder_split(cfg, 'input', 'val')
    assert len(frames) == 85
    far = [(f, data.outside_domain(domain, develop.low_res_view(develop.read_input(f, 'display'))))
           for f in frames]
    assert [f for f, problems in far if problems] == []
    photos = image_io.list_images([os.path.join(SHARED_DATA, 'photos')])[::10]
    warned = [p for p in photos if data.outside_domain(
        domain, develop.low_res_view(develop.read_input(p, 'display')))]
    assert len(warned) > len(photos) / 2        # most good photos are far from Sintel's renders
