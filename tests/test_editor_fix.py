"""What the editor is for (README: Adjusting an edit): where the shipped photo model gets an
over-exposed photo wrong, a slider or two fix it. A person judges by eye; here the eye is the PSNR
against the photo before its over-exposure, over the positions a person would try of two sliders
(a contrast step added, an exposure step added), each preview asked for as the page asks for it."""
import os

import numpy as np
import skimage.data
from starlette.testclient import TestClient

import configurator
import data
import editor
import image_io


def preview(client, steps):
    r = client.post('/api/preview', json={'name': 'rocket.png', 'steps': steps})
    assert r.status_code == 200, r.text
    shape = [int(r.headers[k]) for k in ('X-Height', 'X-Width', 'X-Channels')]     # RGB, RGBA if transparent
    return np.frombuffer(r.content, np.uint8).reshape(shape)[..., :3] / 255.0


def psnr(a, b):
    return 10 * np.log10(1 / np.mean((a - b) ** 2))


def test_two_sliders_fix_the_models_over_exposed_result(tmp_path):
    reference = image_io.to_float(skimage.data.rocket())          # 427 x 640: previewed whole
    over = data.render_exposure(reference, 1.5, data.VALIDATION_CURVE)    # +1.5 EV, as a camera renders it
    image_io.write_image(str(tmp_path / 'rocket.png'), over)
    cwd = os.getcwd()
    os.chdir(configurator.PROJECT_DIR)             # the shipped model, models/photos/pretrained
    try:
        ed = editor.Editor(editor.Library([str(tmp_path / 'rocket.png')], str(tmp_path / 'out')), 'photos',
                           'pretrained')
        with TestClient(editor.make_app(ed)) as client:
            draw = client.post('/api/agent', json={'name': 'rocket.png', 'seed': 0}).json()
            agents = [{'class': s['class'], 'parameters': s['parameters']} for s in draw['steps']]
            agent = psnr(preview(client, agents), reference)
            fixed = max(psnr(preview(client, agents + [{'class': 'ContrastFilter', 'parameters': [contrast]},
                                                       {'class': 'ExposureFilter', 'parameters': [ev]}]), reference)
                        for contrast in (0.0, 0.2, 0.4, 0.6) for ev in (0.0, -0.5))
    finally:
        os.chdir(cwd)
    assert agent < psnr(over, reference) + 1         # the model leaves it as bright as it came (or worse)
    assert fixed > agent + 6                          # measured: 13.0 dB -> 22.2 dB
