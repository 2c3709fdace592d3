"""The editor's page end to end in a real browser: headless Chromium from the operating system's
packages (/usr/bin/chromium), driven by Playwright (which downloads no browser of its own here).

Where Chromium or Playwright is missing these tests skip, unless EXPOSURE_BROWSER_TESTS=required
(.ci/run sets it after installing Chromium): there a missing browser fails them.
"""
import base64
import json
import os
import shutil

import cv2
import numpy as np
import pytest
import tensorflow as tf

import configurator
import develop
import editor
import evaluate
import filters
import image_io

CHROMIUM = os.environ.get('CHROMIUM') or shutil.which('chromium') or '/usr/bin/chromium'
REQUIRED = os.environ.get('EXPOSURE_BROWSER_TESTS') == 'required'
FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync']
# Where the README's screenshot is written (EDITOR_SCREENSHOT=docs/editor.jpg); else a temporary file.
SCREENSHOT = os.environ.get('EDITOR_SCREENSHOT') and os.path.abspath(os.environ['EDITOR_SCREENSHOT'])


def unavailable(why):
    if REQUIRED:
        pytest.fail(f"{why}, and EXPOSURE_BROWSER_TESTS=required", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope='module')
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable('Playwright is not installed (pip install -r requirements-dev.txt)')
    if not os.path.exists(CHROMIUM):
        unavailable(f'no Chromium at {CHROMIUM} (apt-get install chromium)')
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def write_photo(path, width=240, height=160):
    """A small photo with smooth gradients and colour (a random one would hide tone edits)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([x / width, y / height, 0.5 + 0.4 * np.sin(x / 17) * np.cos(y / 11)], axis=-1)
    cv2.imwrite(str(path), (np.clip(img, 0, 1) * 255).astype(np.uint8)[..., ::-1])


def canvas_pixels(page, canvas_id, channels=(2, 1, 0)):
    """A canvas's RGB (channels=(2, 1, 0, 3): RGBA) as the page drew it."""
    url = page.evaluate(f"document.getElementById('{canvas_id}').toDataURL('image/png')")
    data = np.frombuffer(base64.b64decode(url.split(',', 1)[1]), np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)[..., list(channels)]


def wait_shown(page, steps):
    """Waits until the preview shows exactly these steps."""
    from playwright.sync_api import TimeoutError
    try:
        page.wait_for_function("(s) => document.getElementById('after').dataset.steps === JSON.stringify(JSON.parse(s))",
                               arg=json.dumps(steps), timeout=120000)
    except TimeoutError:
        shown = page.evaluate("document.getElementById('after').dataset.steps")
        pytest.fail(f"the preview shows {shown}, not {steps}; the page says {page.inner_text('#status')!r}")


def set_parameter(page, step, param, value, kind='range'):
    """Moves a slider (or types in its number field) as a person does: the element's events fire.
    -> the value taken (a slider snaps to its steps)."""
    return page.locator(f'#steps input[type={kind}][data-step="{step}"][data-param="{param}"]').evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event(el.type === 'range' ? 'input' : 'change'));"
        " return +el.value; }", str(value))


def filters_output(path, encoding, steps):
    """The filters' own output (filters.py, step by step, not the compiled Developer) for these steps."""
    photo = develop.read_input(str(path), encoding)
    img = tf.constant(photo.linear(photo.samples)[None])
    by_class = {type(f).__name__: f for f in filters.build_filters(configurator.load_config('example'))}
    for s in steps:
        img = by_class[s['class']].process(img, tf.constant([s['parameters']], tf.float32))
    return image_io.quantize(img[0].numpy(), 8)


def test_adjust_save_and_export_in_the_browser(browser, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'shoot').mkdir()
    write_photo(tmp_path / 'shoot' / 'photo.png')
    (tmp_path / 'shoot' / 'broken.jpg').write_bytes(b'not a photo')
    app = editor.make_app(editor.Editor(editor.Library(['shoot'], 'outputs')))
    with editor.Background(app) as served:
        page = browser.new_page(viewport={'width': 1100, 'height': 650})
        errors = []
        page.on('pageerror', lambda e: errors.append(str(e)))
        page.goto(served.url)
        # The first photo opens by itself: the broken one says why, and the other stays usable.
        page.wait_for_selector('.thumb .error')
        assert 'broken.jpg' in page.inner_text('.thumb .error')
        assert 'broken.jpg' in page.inner_text('#status')
        page.click('.thumb[data-name="photo.png"]')
        wait_shown(page, [])                     # untouched

        # Add a step, move its slider: the preview is the filters' output for those parameters.
        page.select_option('#add-filter', 'ExposureFilter')
        page.click('#add-step')
        wait_shown(page, [{'class': 'ExposureFilter', 'parameters': [0.0]}])
        before = canvas_pixels(page, 'after')
        steps = [{'class': 'ExposureFilter', 'parameters': [set_parameter(page, 0, 0, 1.25)]}]
        assert steps[0]['parameters'][0] == pytest.approx(1.25, abs=0.01)
        wait_shown(page, steps)
        after = canvas_pixels(page, 'after')
        assert after.mean() > before.mean() + 20
        expected = filters_output(tmp_path / 'shoot' / 'photo.png', 'srgb', steps)
        assert after.shape == expected.shape and np.abs(after.astype(int) - expected).max() <= 1
        # The number fields show the widest value of the filters' ranges whole.
        set_parameter(page, 0, 0, -3.4567, kind='number')
        wait_shown(page, [{'class': 'ExposureFilter', 'parameters': [-3.4567]}])
        assert page.input_value('#steps input[type=number]') == '-3.4567'
        assert page.evaluate("[...document.querySelectorAll('#steps input[type=number]')].every("
                             "(e) => e.scrollWidth <= e.clientWidth)")
        # A slider dragged with the mouse moves on with it: the panel is not rebuilt under the drag.
        box = page.locator('#steps input[type=range]').bounding_box()
        page.mouse.move(box['x'] + 2, box['y'] + box['height'] / 2)
        page.mouse.down()
        dragged = []
        for x in (0.3, 0.5, 0.7):
            page.mouse.move(box['x'] + x * box['width'], box['y'] + box['height'] / 2)
            dragged.append(page.evaluate("state.steps[0].parameters[0]"))
        page.mouse.up()
        assert dragged == sorted(dragged) and dragged[0] < 0 < dragged[-1], dragged
        # A slider moved while a preview is on its way: that preview says the steps it was made from
        # (not the slider's newer value), and the newer value follows it.
        page.evaluate("""() => { window.shown = [];
            new MutationObserver(() => window.shown.push(document.getElementById('after').dataset.steps))
                .observe(document.getElementById('after'), {attributes: true, attributeFilter: ['data-steps']}); }""")
        held = []

        def hold_the_first(route):
            if held:
                route.continue_()
            else:
                held.append(route)
        page.route('**/api/preview', hold_the_first)
        first = [{'class': 'ExposureFilter', 'parameters': [set_parameter(page, 0, 0, 1.0)]}]
        while not held:
            page.wait_for_timeout(20)
        later = [{'class': 'ExposureFilter', 'parameters': [set_parameter(page, 0, 0, 2.0)]}]
        held[0].continue_()
        wait_shown(page, later)
        page.unroute('**/api/preview')
        assert [json.loads(s) for s in page.evaluate("window.shown")] == [first, later]
        set_parameter(page, 0, 0, 0.75, kind='number')
        steps = [{'class': 'ExposureFilter', 'parameters': [0.75]}]
        wait_shown(page, steps)

        # Add a step and delete it; undo brings it back, redo deletes it again.
        page.select_option('#add-filter', 'GammaFilter')
        page.click('#add-step')
        assert page.locator('#steps .step').count() == 2
        page.click('#steps .step[data-index="1"] button[title="delete this step"]')
        assert page.locator('#steps .step').count() == 1
        page.click('#undo')
        assert page.locator('#steps .step').count() == 2
        page.click('#redo')
        wait_shown(page, steps)
        assert page.locator('#steps .step').count() == 1

        page.click('#save')
        page.wait_for_function("document.getElementById('status').textContent.startsWith('saved')")
        recipe = json.loads((tmp_path / 'outputs' / 'photo.png.steps.json').read_text())
        assert recipe['made_by'] == 'by hand' and recipe['steps'][0]['parameters'] == [0.75]
        page.click('#export')
        page.wait_for_function("document.getElementById('status').textContent.startsWith('exported')",
                               timeout=120000)
        assert not errors
    # evaluate.py --recipe re-applies the saved recipe to the same pixels as Export.
    assert evaluate.main(['--recipe', 'outputs/photo.png.steps.json', 'shoot/photo.png',
                          '--output-dir', 'again']) == 0
    exported = cv2.imread('outputs/photo.png.retouched.png')
    assert np.array_equal(exported, cv2.imread('again/photo.png.retouched.png'))
    expected = filters_output(tmp_path / 'shoot' / 'photo.png', 'srgb', steps)
    assert np.abs(exported[..., ::-1].astype(int) - expected).max() <= 1


def test_a_transparent_photo_is_shown_transparent(browser, tmp_path):
    (tmp_path / 'shoot').mkdir()
    write_photo(tmp_path / 'shoot' / 'photo.png')
    img = cv2.imread(str(tmp_path / 'shoot' / 'photo.png'))
    alpha = np.full(img.shape[:2], 255, np.uint8)
    alpha[:, :80], alpha[:40, 80:160] = 0, 128       # a transparent band and a half-transparent one
    cv2.imwrite(str(tmp_path / 'shoot' / 'photo.png'), np.dstack([img, alpha]))
    app = editor.make_app(editor.Editor(editor.Library([str(tmp_path / 'shoot')], str(tmp_path / 'outputs'))))
    with editor.Background(app) as served:
        page = browser.new_page(viewport={'width': 1100, 'height': 650})
        page.goto(served.url)
        wait_shown(page, [])
        for canvas in ('before', 'after'):
            assert np.array_equal(canvas_pixels(page, canvas, (3,))[..., 0], alpha)
        # Each shows only its own part: the before picture is hidden under the after one.
        assert page.evaluate("getComputedStyle(document.getElementById('before')).visibility") == 'hidden'


def test_the_agents_edit_and_another_draw_in_the_browser(browser, tmp_path, monkeypatch):
    """The shipped photos model on the demo's under- and over-exposed photos: its steps with their
    pictures and the policy, another draw beside the first; the README's screenshot."""
    monkeypatch.chdir(tmp_path)
    folder = evaluate.prepare_demo_inputs('shoot')
    app = editor.make_app(editor.Editor(editor.Library([folder], 'outputs'), 'photos', 'pretrained'))
    with editor.Background(app) as served:
        page = browser.new_page(viewport={'width': 1100, 'height': 650})
        errors = []
        page.on('pageerror', lambda e: errors.append(str(e)))
        page.goto(served.url)
        page.wait_for_function("document.querySelectorAll('#steps .step img').length === 5", timeout=180000)
        assert page.locator('#steps .policy').count() == 5 and page.locator('.draw').count() == 1
        steps = page.evaluate("JSON.stringify(activeSteps())")
        wait_shown(page, json.loads(steps))
        # A step moved, or a slider of a step, leaves that step and the later ones on another image
        # than the one the agent chose them on: their policies go, the earlier steps keep theirs.
        kept = page.evaluate("JSON.stringify(state.steps.map((s) => s.policy))")
        page.click('#steps .step[data-index="2"] button[title="move down"]')
        assert page.locator('#steps .policy').count() == 2
        assert [s['policy'] for s in page.evaluate("recipeBody()")['steps']] == json.loads(kept)[:2] + [None] * 3
        page.click('#undo')
        assert page.locator('#steps .policy').count() == 5
        set_parameter(page, 3, 0, page.evaluate("state.steps[3].parameters[0]") * 0.9)
        assert page.locator('#steps .policy').count() == 3
        assert page.locator('#steps .step[data-index="2"] .policy').count() == 1
        page.click('#undo')
        wait_shown(page, json.loads(steps))
        page.click('#draw')
        page.wait_for_function("document.querySelectorAll('.draw').length === 2", timeout=180000)
        assert page.inner_text('.draw:nth-child(2)').strip() == 'seed 1'
        page.screenshot(path=SCREENSHOT or str(tmp_path / 'editor.jpg'), type='jpeg', quality=70)
        assert not errors
