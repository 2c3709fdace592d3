"""editor.py's web API through Starlette's test client: every route, and every refusal of the
editor's safety rules (paths out of the folders given, unlisted names, big bodies, bad recipes)."""
import json
import os
import threading

import cv2
import numpy as np
import pytest
import tensorflow as tf
from starlette.testclient import TestClient

import configurator
import develop
import editor
import evaluate
import image_io
import net
import recipes
from conftest import unsearchable, without_root

EXPOSURE = {'class': 'ExposureFilter', 'parameters': [0.8]}
GAMMA = {'class': 'GammaFilter', 'parameters': [0.7]}


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """models/sintel/tiny (an untrained checkpoint), a folder of photos with a damaged file and a
    link leading out of the folder, and a photo outside it."""
    root = tmp_path_factory.mktemp('editor')
    cfg = configurator.load_config('sintel', ['--seed=0'])
    gan = net.GAN(cfg)
    model_dir = root / 'models' / 'sintel' / 'tiny'
    gan.make_manager(str(model_dir)).save(checkpoint_number=1)
    (model_dir / 'config.json').write_text(json.dumps(configurator.config_to_dict(cfg)))
    photos = root / 'photos'
    photos.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(photos / 'a.png'), rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
    cv2.imwrite(str(photos / 'b.jpg'), rng.integers(0, 255, (50, 30, 3), dtype=np.uint8))
    rgba = rng.integers(0, 255, (40, 40, 4), dtype=np.uint8)
    rgba[:, :20, 3] = 0          # half transparent: the colours under it do not count for the seed
    cv2.imwrite(str(photos / 't.png'), rgba)
    (photos / 'damaged.jpg').write_bytes(b'\xff\xd8 not really a JPEG')
    outside = root / 'secret.png'
    cv2.imwrite(str(outside), rng.integers(0, 255, (20, 20, 3), dtype=np.uint8))
    os.symlink(outside, photos / 'link.png')
    return root


@pytest.fixture(scope='module')
def client(workspace):
    cwd = os.getcwd()
    os.chdir(workspace)          # models/ and outputs/ below the workspace, as for a user
    try:
        library = editor.Library(['photos'], 'outputs')
        ed = editor.Editor(library, 'sintel', 'tiny')
        with TestClient(editor.make_app(ed)) as c:
            c.editor = ed              # for tests that compare with the editor's own Developer
            yield c
    finally:
        os.chdir(cwd)


def pixels(response, channels=slice(0, 3)):
    """A picture's RGB (channels=slice(None): RGB or RGBA, as sent)."""
    shape = [int(response.headers[f'x-{k}']) for k in ('height', 'width', 'channels')]
    return np.frombuffer(response.content, np.uint8).reshape(shape)[..., channels]


def test_session_lists_the_photos_and_the_filters(client):
    info = client.get('/api/session').json()
    # The link leading out of the folder is not listed; the damaged file is (it says why when opened).
    assert info['photos'] == ['a.png', 'b.jpg', 'damaged.jpg', 't.png']
    assert info['model'] == 'sintel/tiny'
    exposure = next(f for f in info['filters'] if f['class'] == 'ExposureFilter')
    assert exposure['low'][0] == pytest.approx(-3.5) and exposure['high'][0] == pytest.approx(3.5)
    assert exposure['neutral'] == [0.0] and exposure['param_names'] == ['EV']
    tone = next(f for f in info['filters'] if f['class'] == 'ToneFilter')
    assert len(tone['param_names']) == len(tone['low']) == 8
    assert client.get('/').text.startswith('<!DOCTYPE html>')
    assert client.get('/static/editor.js').status_code == 200


def test_damaged_photo_is_named_and_the_others_stay_usable(client):
    r = client.get('/api/thumbnail', params={'name': 'damaged.jpg'})
    assert r.status_code == 422 and 'damaged.jpg' in r.json()['error']
    r = client.get('/api/thumbnail', params={'name': 'a.png'})
    assert r.status_code == 200 and r.headers['content-type'] == 'image/jpeg'
    before = pixels(client.get('/api/before', params={'name': 'a.png'}))
    assert np.array_equal(before, cv2.imread('photos/a.png')[..., ::-1])


@pytest.mark.parametrize('name, status', [
    ('../secret.png', 400), ('photos/../../secret.png', 400), ('..', 400),
    (None, 400), ('/etc/passwd', 400), ('\\etc\\passwd', 400),
    ('secret.png', 404), ('link.png', 404), ('c.png', 404), ('a.png/', 404)])
def test_names_out_of_the_list_are_refused(client, name, status):
    for r in (client.get('/api/before', params={} if name is None else {'name': name}),
              client.post('/api/preview', json={'name': name, 'steps': []}),
              client.post('/api/save', json={'name': name, 'steps': [EXPOSURE]})):
        assert r.status_code == status, r.text
    assert not os.path.exists('outputs/secret.png.steps.json')


def test_a_link_swapped_after_start_is_refused(workspace, tmp_path):
    folder = tmp_path / 'p'
    folder.mkdir()
    cv2.imwrite(str(folder / 'x.png'), np.zeros((20, 20, 3), np.uint8))
    cv2.imwrite(str(folder / 'z.png'), np.ones((20, 20, 3), np.uint8))
    os.symlink('z.png', folder / 'y.png')
    library = editor.Library([str(folder)], str(tmp_path / 'out'))
    os.remove(folder / 'y.png')
    os.symlink(workspace / 'secret.png', folder / 'y.png')
    with pytest.raises(editor.HTTPException) as e:
        library.path('y.png')
    assert e.value.status_code == 403


def test_big_bodies_are_refused(client):
    steps = [EXPOSURE] * 5000
    r = client.post('/api/preview', json={'name': 'a.png', 'steps': steps})
    assert r.status_code == 413
    # Without a length: refused as the streamed body passes the bound.
    body = json.dumps({'name': 'a.png', 'steps': steps}).encode()
    r = client.post('/api/preview', content=iter([body[i:i + 4096] for i in range(0, len(body), 4096)]))
    assert r.status_code == 413
    assert client.post('/api/preview', content=b'{not json').status_code == 400
    assert client.post('/api/preview', json=[1, 2]).status_code == 400


@pytest.mark.parametrize('steps, message', [
    ([{'class': 'Curl', 'parameters': [1]}], 'unknown filter'),
    ([{'class': 'ExposureFilter', 'parameters': [9.0]}], 'outside exposure'),
    ([{'class': 'ExposureFilter', 'parameters': [0.1, 0.2]}], 'takes 1'),
    ([{'class': 'GammaFilter', 'parameters': ['1']}], 'list of numbers'),
    ([{'class': 'ExposureFilter'}], 'list of numbers'),
    (['ExposureFilter'], 'unknown filter'),
    ([EXPOSURE] * (editor.MAX_STEPS + 1), 'at most'),
    ('ExposureFilter', 'at most')])
def test_bad_steps_are_refused_as_recipes_are(client, steps, message):
    for route in ('/api/preview', '/api/save'):
        r = client.post(route, json={'name': 'a.png', 'steps': steps})
        assert r.status_code == 422 and message in r.json()['error'], r.text


def test_nan_parameter_is_refused(client):
    body = '{"name": "a.png", "steps": [{"class": "ExposureFilter", "parameters": [NaN]}]}'
    r = client.post('/api/preview', content=body, headers={'content-type': 'application/json'})
    assert r.status_code == 422 and 'outside' in r.json()['error']


def test_preview_is_the_developers_output_for_those_parameters(client):
    steps = [EXPOSURE, GAMMA]
    shown = pixels(client.post('/api/preview', json={'name': 'a.png', 'steps': steps}))
    # The filters' own code, step by step on the linearized photo (not the compiled Developer).
    photo = develop.read_input('photos/a.png', 'display')        # the sintel model's encoding
    img = tf.constant(photo.linear(photo.samples)[None])
    filters = {type(f).__name__: f for f in net.GAN(configurator.load_config('sintel'), training=False).filters}
    for s in steps:
        img = filters[s['class']].process(img, tf.constant([s['parameters']], tf.float32))
    expected = image_io.quantize(img[0].numpy(), 8)
    assert shown.shape == expected.shape
    assert np.abs(shown.astype(int) - expected).max() <= 1
    brighter = pixels(client.post('/api/preview', json={'name': 'a.png', 'steps': [
        {'class': 'ExposureFilter', 'parameters': [1.5]}, GAMMA]}))
    assert brighter.mean() > shown.mean() + 5
    untouched = pixels(client.post('/api/preview', json={'name': 'a.png', 'steps': []}))
    assert np.abs(untouched.astype(int) - image_io.quantize(photo.linear(photo.samples), 8)).max() <= 1


def test_preview_after_each_change_equals_developing_from_scratch(client, workspace):
    """The preview keeps the image before the step last changed (editor.Preview): every change, to a
    later step, then an earlier one, back to the later, adding, deleting and reordering, shows what
    developing the screen copy from its samples makes, to the bit."""
    name = 'a.png'
    ed = client.editor
    opened = ed.open(name)

    def check(steps):
        shown = pixels(client.post('/api/preview', json={'name': name, 'steps': steps}), slice(None))
        assert np.array_equal(shown, ed.develop(opened.screen, opened.photo, ed.edits(steps))), steps
        return shown

    steps = [EXPOSURE, GAMMA, {'class': 'ContrastFilter', 'parameters': [0.5]},
             {'class': 'SaturationPlusFilter', 'parameters': [0.6]}, {'class': 'ExposureFilter', 'parameters': [-0.4]}]
    check(steps)
    shown = []
    for step, value in ((3, 0.9), (3, 0.2), (1, 1.8), (1, 0.5), (3, 0.7), (4, 1.0), (0, -1.0), (3, 0.1)):
        steps = [dict(s) for s in steps]
        steps[step]['parameters'] = [value]
        shown.append(check(steps))
    # Each change was seen: no preview repeats the one before it.
    assert all(not np.array_equal(a, b) for a, b in zip(shown, shown[1:]))
    # More steps than one compiled function's slots (develop.STEP_SLOTS) take another.
    for changed in (steps + [GAMMA], steps[:2] + steps[3:], [steps[1], steps[0]] + steps[2:],
                    steps[:3] + [dict(steps[3], parameters=[0.95])], steps[:1], [], steps * 2,
                    steps * 2 + [EXPOSURE]):
        check(changed)


def test_a_transparent_photos_preview_keeps_its_alpha(client):
    stored = cv2.imread('photos/t.png', cv2.IMREAD_UNCHANGED)
    for r in (client.get('/api/before', params={'name': 't.png'}),
              client.post('/api/preview', json={'name': 't.png', 'steps': [EXPOSURE]})):
        assert np.array_equal(pixels(r, slice(None))[..., 3], stored[..., 3])


def test_agent_draw_is_the_edit_evaluate_makes_with_that_seed(client, workspace, monkeypatch, capsys):
    assert evaluate.main(['sintel', 'tiny', 'photos/b.jpg', 'photos/t.png', '--seed', '3', '--output-dir',
                          'by_evaluate', '--no-intermediates']) == 0
    for name in ('b.jpg', 't.png'):          # t.png: a transparent photo's seed skips what is hidden
        draw = client.post('/api/agent', json={'name': name, 'seed': 3}).json()
        assert len(draw['steps']) == 5 and draw['result'].startswith('data:image/png;base64,')
        assert all(len(s['policy']) == 8 and s['image'].startswith('data:image/png') for s in draw['steps'])
        recipe = json.loads((workspace / 'by_evaluate' / f'{name}.steps.json').read_text())
        assert [s['class'] for s in recipe['steps']] == [s['class'] for s in draw['steps']]
        for mine, theirs in zip(draw['steps'], recipe['steps']):
            assert np.allclose(mine['parameters'], theirs['parameters'], atol=1e-6)
    other = client.post('/api/agent', json={'name': 't.png', 'seed': 4}).json()
    assert other['steps'] != draw['steps']
    assert client.post('/api/agent', json={'name': 'b.jpg', 'seed': -1}).status_code == 422
    assert client.post('/api/agent', json={'name': 'b.jpg', 'seed': True}).status_code == 422


def test_save_writes_the_recipe_evaluate_reapplies(client, workspace):
    steps = [dict(EXPOSURE, policy=[0.5, 0.5] + [0] * 6), GAMMA]
    r = client.post('/api/save', json={'name': 'a.png', 'steps': steps, 'seed': 3})
    assert r.status_code == 200
    path = r.json()['recipe']
    assert os.path.samefile(path, workspace / 'outputs' / 'a.png.steps.json')
    recipe = json.loads(open(path).read())
    assert recipe['made_by'] == 'agent, adjusted' and recipe['model'] == 'sintel/tiny' and recipe['seed'] == 3
    assert recipe['steps'][0]['policy']['E'] == 0.5 and recipe['steps'][1]['policy'] is None
    assert recipe['input_encoding'] == 'display' and recipe['source'] == 'a.png'
    step_filters, edits, _ = recipes.load(path)
    assert [type(f).__name__ for f in step_filters] == ['ExposureFilter', 'GammaFilter']
    assert np.allclose(edits[1][1], [0.7])
    assert client.get('/api/recipe', params={'name': 'a.png'}).json()['recipe'] == [
        {'class': 'ExposureFilter', 'parameters': [pytest.approx(0.8)]},
        {'class': 'GammaFilter', 'parameters': [pytest.approx(0.7)]}]
    assert client.get('/api/recipe', params={'name': 'b.jpg'}).json()['recipe'] is None
    assert client.post('/api/save', json={'name': 'a.png', 'steps': []}).status_code == 422
    for bad in ({'made_by': 'robot'}, {'seed': 'x'}, {'steps': [dict(EXPOSURE, policy=[2] * 8)]}):
        assert client.post('/api/save', json={'name': 'a.png', 'steps': [EXPOSURE], **bad}).status_code == 422


def test_the_game_saves_a_human_recipe_of_at_most_four_steps(client):
    body = {'name': 'b.jpg', 'made_by': 'human', 'seed': None}
    assert client.post('/api/save', json=dict(body, steps=[EXPOSURE] * 5)).status_code == 422
    path = client.post('/api/save', json=dict(body, steps=[EXPOSURE] * 4)).json()['recipe']
    recipe = json.loads(open(path).read())
    assert recipe['made_by'] == 'human' and len(recipe['steps']) == 4
    assert all(s['policy'] is None for s in recipe['steps'])


def test_export_keeps_the_recipe_it_saved(client):
    """Export develops the photo with the recipe Save just wrote, and leaves that recipe as it is: it
    is not replaced by a note that it was applied (made_by, seed and policies would be lost)."""
    body = {'name': 'b.jpg', 'made_by': 'human', 'seed': None, 'steps': [EXPOSURE, GAMMA]}
    assert client.post('/api/export', json=dict(body, names=['b.jpg'])).status_code == 200
    recipe = json.loads(open(client.editor.library.recipe_path('b.jpg')).read())
    assert recipe['made_by'] == 'human' and 'applied_recipe' not in recipe and len(recipe['steps']) == 2


def test_export_writes_what_evaluate_recipe_writes(client, workspace, capsys):
    steps = [EXPOSURE, GAMMA]
    r = client.post('/api/export', json={'names': ['a.png', 'b.jpg'], 'steps': steps, 'lut': True})
    assert r.status_code == 200, r.text
    files = r.json()['files']
    assert {os.path.basename(f) for f in files} >= {'a.png.retouched.png', 'b.jpg.retouched.png',
                                                    'a.png.cube', 'b.jpg.steps.json'}
    assert evaluate.main(['--recipe', 'outputs/a.png.steps.json', 'photos/a.png', '--output-dir', 'again',
                          '--lut']) == 0
    for suffix in ('.retouched.png', '.cube'):
        mine = (workspace / 'outputs' / f'a.png{suffix}').read_bytes()
        assert mine == (workspace / 'again' / f'a.png{suffix}').read_bytes()
    r = client.post('/api/export', json={'names': ['a.png'], 'steps': steps, 'format': 'gif'})
    assert r.status_code == 422
    r = client.post('/api/export', json={'names': ['damaged.jpg'], 'steps': steps})
    assert r.status_code == 422 and 'damaged.jpg' in r.json()['error']
    assert client.post('/api/export', json={'names': ['../secret.png'], 'steps': steps}).status_code == 400


def test_two_tabs_saving_at_once_lose_nothing(client):
    """Saves of one photo from two tabs at the same time: the file is always one whole recipe, and
    the later save is what stays."""
    tabs = [[{'class': 'ExposureFilter', 'parameters': [v]}] for v in (0.25, -0.5)]
    seen, problems = [], []

    def tab(steps):
        for _ in range(8):
            if client.post('/api/save', json={'name': 'a.png', 'steps': steps}).status_code != 200:
                problems.append('save refused')

    def reader():
        for _ in range(40):
            try:
                seen.append(json.loads(open('outputs/a.png.steps.json').read())['steps'][0]['parameters'])
            except ValueError as e:
                problems.append(str(e))

    threads = [threading.Thread(target=tab, args=(s,)) for s in tabs] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not problems
    assert all(v in ([0.25], [-0.5], [0.8]) for v in seen)
    for steps in tabs:        # one after the other: the later save wins
        client.post('/api/save', json={'name': 'a.png', 'steps': steps})
        assert json.loads(open('outputs/a.png.steps.json').read())['steps'][0]['parameters'] == \
            steps[0]['parameters']
    assert not [f for f in os.listdir('outputs') if f.endswith('.tmp') or f.startswith('.')]


def test_without_a_model_the_agent_is_refused_and_editing_works(workspace, tmp_path):
    library = editor.Library([str(workspace / 'photos' / 'a.png')], str(tmp_path))
    with TestClient(editor.make_app(editor.Editor(library))) as c:
        assert c.get('/api/session').json()['photos'] == ['a.png']
        assert c.post('/api/agent', json={'name': 'a.png'}).status_code == 409
        r = c.post('/api/save', json={'name': 'a.png', 'steps': [EXPOSURE], 'made_by': 'human'})
        assert r.status_code == 200 and json.loads(open(r.json()['recipe']).read())['model'] is None


def test_command_line(workspace, tmp_path, capsys, monkeypatch):
    args = editor.parse_args(['photos', 'pretrained', 'shoot/', '--port=9000'])
    assert (args.config, args.model, args.images, args.port) == ('photos', 'pretrained', ['shoot/'], 9000)
    args = editor.parse_args(['shoot/', 'a.jpg'])
    assert args.config is None and args.images == ['shoot/', 'a.jpg'] and args.host == '127.0.0.1'
    monkeypatch.chdir(tmp_path)
    assert editor.main(['nothing_here/']) == 2
    assert 'no photos to edit' in capsys.readouterr().err
    # Results must never replace an input: an input named like a result in the output folder.
    cv2.imwrite('a.png', np.zeros((20, 20, 3), np.uint8))
    cv2.imwrite('a.png.retouched.png', np.zeros((20, 20, 3), np.uint8))
    assert editor.main(['a.png', 'a.png.retouched.png', '--output-dir', '.']) == 2
    assert 'would overwrite the input' in capsys.readouterr().err
    started = {}
    monkeypatch.setattr(editor.uvicorn, 'run', lambda app, host, port, **kw: started.update(host=host))
    assert editor.main(['a.png', '--host', '0.0.0.0', '--output-dir', 'out']) == 0
    out = capsys.readouterr()
    assert 'warning: listening on 0.0.0.0' in out.err and 'http://0.0.0.0:8765/' in out.out
    assert started['host'] == '0.0.0.0'
    assert editor.main(['a.png', '--output-dir', 'out']) == 0
    out = capsys.readouterr()
    assert 'warning' not in out.err and 'http://127.0.0.1:8765/' in out.out


def test_a_photo_behind_a_folder_without_search_permission_is_said_to_be_so(open_folder, capsys):
    folder = os.path.join(open_folder, 'locked')
    os.makedirs(folder)
    cv2.imwrite(os.path.join(folder, 'a.png'), np.zeros((20, 20, 3), np.uint8))
    with unsearchable(folder), without_root():
        library = editor.Library([os.path.join(folder, 'a.png')], os.path.join(open_folder, 'out'))
    err = capsys.readouterr().err
    assert library.paths == {} and 'permission denied' in err and 'chmod' in err and 'no such file' not in err
