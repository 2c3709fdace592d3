"""The editor's preview latency for a 1,600-pixel-wide preview: what a person meets, from moving a
slider in the page to the new preview drawn with its histogram (headless Chromium, when Playwright
and Chromium are here), and on the server, from POST /api/preview to the preview's bytes received
over HTTP from uvicorn as `python editor.py` serves it, of which developing (editor.Preview). Both
for a slider of the first step and of a later one; in the page also a fast drag. Prints medians and
10/90 percent, the CPU and its load, and the command.

  python bench/editor_latency.py [--photo PATH] [--repeats 30]

Without --photo, scikit-image's astronaut enlarged to 2,400 x 1,600 (a 3:2 photo) is used; its
preview is 1,600 x 1,067. The edit is a typical agent's five steps (exposure, gamma, tone curve,
contrast, saturation), opened in the page as a saved recipe; each change moves the exposure slider
(the first step: all five steps re-run) or the contrast slider (the fourth: contrast and saturation).
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_DIR)   # runnable as `python bench/editor_latency.py` from anywhere

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402

import editor  # noqa: E402
import util  # noqa: E402

STEPS = [{'class': 'ExposureFilter', 'parameters': [0.5]}, {'class': 'GammaFilter', 'parameters': [0.8]},
         {'class': 'ToneFilter', 'parameters': [1.3, 1.2, 1.1, 1.0, 1.0, 0.9, 0.9, 0.8]},
         {'class': 'ContrastFilter', 'parameters': [0.2]}, {'class': 'SaturationPlusFilter', 'parameters': [0.4]}]
SLIDERS = {'first step (exposure)': 0, 'fourth step (contrast)': 3}    # name -> step index; parameter 0
DRAG_INPUTS, DRAG_INTERVAL = 60, 0.016       # a drag: an input event each frame at 60 Hz for a second
SLIDER = '#steps input[type=range][data-step="{}"][data-param="0"]'


def post(url, body):
    request = urllib.request.Request(url, json.dumps(body).encode(), {'Content-Type': 'application/json'})
    with urllib.request.urlopen(request) as r:
        return r.read(), int(r.headers['X-Width']), int(r.headers['X-Height'])


def moved(steps, step, k, repeats):
    """The steps with one slider at the k-th of `repeats` values across (most of) its range."""
    steps = [dict(s, parameters=list(s['parameters'])) for s in steps]
    low, high = (-1.0, 1.0) if step == 0 else (-0.6, 0.9)
    steps[step]['parameters'][0] = round(low + (high - low) * k / repeats, 3)
    return steps


def spread(xs):
    ms = [1000 * x for x in xs]
    return f"median {statistics.median(ms):.0f} ms (10%: {np.percentile(ms, 10):.0f}, 90%: {np.percentile(ms, 90):.0f})"


def server_side(ed, served, name, repeats):
    """{slider: (HTTP round trips, developing times)} for slider changes posted as the page posts them."""
    url, opened, out = served.url + 'api/preview', ed.open(name), {}
    for slider, step in SLIDERS.items():
        for k in range(3):                          # compiles the development, fills the kept images
            post(url, {'name': name, 'steps': moved(STEPS, step, k, 3)})
        total, develop = [], []
        for k in range(repeats):
            steps = moved(STEPS, step, k, repeats)
            start = time.perf_counter()
            _, width, height = post(url, {'name': name, 'steps': steps})
            total.append(time.perf_counter() - start)
            # Developing alone, as the request above did it (the kept image is before this step).
            edits = ed.edits(moved(STEPS, step, k + 0.5, repeats))
            start = time.perf_counter()
            opened.preview.render(edits)
            develop.append(time.perf_counter() - start)
        out[slider] = total, develop
    return out, (width, height)


def in_the_page(served, repeats):
    """{slider: times from a slider's input event to the new preview drawn with its histogram}, and
    the drag's figures; None where Playwright or Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
        from tests.test_editor_browser import CHROMIUM, FLAGS, set_parameter, wait_shown
    except ImportError:
        return None
    if not os.path.exists(CHROMIUM):
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={'width': 1400, 'height': 900})
        page.goto(served.url)
        page.wait_for_function("document.querySelectorAll('#steps .step').length === 5", timeout=120000)
        steps = json.loads(page.evaluate("JSON.stringify(activeSteps())"))
        wait_shown(page, steps)
        # When each slider or number event came (a listener that runs before the page's own) and
        # when each preview was shown (the page sets #after's data-steps after drawing it and its
        # histogram).
        page.evaluate("""() => {
            window.bench = {input: 0, shown: []};
            for (const kind of ['input', 'change'])
                document.addEventListener(kind, () => { window.bench.input = performance.now(); }, true);
            const after = document.getElementById('after');
            new MutationObserver(() => window.bench.shown.push([performance.now(), after.dataset.steps]))
                .observe(after, {attributes: true, attributeFilter: ['data-steps']});
        }""")

        def change(step, k, count):
            steps[step]['parameters'][0] = set_parameter(page, step, 0, moved(STEPS, step, k, count)[step]['parameters'][0])
            return steps

        def shown_after_input(expected):
            wait_shown(page, expected)
            bench = page.evaluate("window.bench")
            # The last time these steps were shown: consecutive changes differ, so it is this change's.
            at = [t for t, s in bench['shown'] if json.loads(s) == expected][-1]
            return (at - bench['input']) / 1000, len(bench['shown'])

        out = {}
        for slider, step in SLIDERS.items():
            for k in range(3):
                shown_after_input(change(step, k, 3))
            out[slider] = [shown_after_input(change(step, k, repeats))[0] for k in range(repeats)]
        # A drag: inputs faster than previews come; the page sends one request at a time, so the last
        # value must be shown about one preview after the drag stops, not after a queue of them.
        # The inputs come from the page's own timer (a loop in Python sends them 30-60 ms apart), as
        # set_parameter sends them: the value set, then the event.
        drags, previews = [], []
        for _ in range(3):
            page.evaluate("window.bench.shown = []")
            steps[0]['parameters'][0] = page.locator(SLIDER.format(0)).evaluate("""async (el, [n, interval]) => {
                for (let k = 0; k < n; k++) {
                    el.value = +el.min + (+el.max - +el.min) * (0.3 + 0.4 * k / n);
                    el.dispatchEvent(new Event('input'));
                    await new Promise((done) => setTimeout(done, interval));
                }
                return +el.value;
            }""", [DRAG_INPUTS, 1000 * DRAG_INTERVAL])
            last, count = shown_after_input(steps)
            drags.append(last)
            previews.append(count)
        histogram = page.evaluate("""() => {
            const after = document.getElementById('after');
            const bytes = after.getContext('2d').getImageData(0, 0, after.width, after.height).data;
            const times = [];
            for (let k = 0; k < 21; k++) {
                const start = performance.now();
                drawHistogram(bytes, after.width);
                times.push(performance.now() - start);
            }
            return times.sort((a, b) => a - b)[10];
        }""")
        browser.close()
    return out, drags, previews, histogram / 1000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--photo', help='a photo to preview (default: the astronaut at 2,400 x 1,600)')
    parser.add_argument('--repeats', type=int, default=30, help='slider changes timed per slider (default 30)')
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]        # before this script's own work raises it
    folder = tempfile.mkdtemp()
    photo = args.photo
    if photo is None:
        photo = os.path.join(folder, 'astronaut.jpg')
        cv2.imwrite(photo, cv2.resize(skimage.data.astronaut()[..., ::-1], (2400, 1600), interpolation=cv2.INTER_CUBIC))
    util.configure_tensorflow()
    ed = editor.Editor(editor.Library([photo], os.path.join(folder, 'out')))
    name = next(iter(ed.library.paths))
    ed.save(name, ed.recipe(name, {'steps': STEPS, 'made_by': 'by hand'}))     # the page opens with it
    opened = ed.open(name)
    with editor.Background(editor.make_app(ed)) as served:
        server, (width, height) = server_side(ed, served, name, args.repeats)
        page = in_the_page(served, args.repeats)
    print(f"editor preview latency, {width} x {height} preview of {os.path.basename(photo)} "
          f"({opened.photo.samples.shape[1]} x {opened.photo.samples.shape[0]}), {len(STEPS)} steps, "
          f"{args.repeats} changes per slider")
    for slider in SLIDERS:
        print(f"  {slider} slider:")
        if page:
            print(f"    in the page, input event to preview and histogram drawn: {spread(page[0][slider])}")
        total, develop = server[slider]
        print(f"    POST /api/preview to its bytes received: {spread(total)}")
        print(f"    of which developing (editor.Preview): {spread(develop)}")
    if page:
        _, drags, previews, histogram = page
        print(f"  dragging the first step's slider (an input every {1000 * DRAG_INTERVAL:.0f} ms for "
              f"{DRAG_INPUTS * DRAG_INTERVAL:.1f} s, 3 times): the last value shown {spread(drags)} after the "
              f"last input; {statistics.median(previews):.0f} previews drawn for {DRAG_INPUTS} inputs")
        print(f"  the page's histogram alone: {1000 * histogram:.1f} ms")
    else:
        print("  in the page: not measured (no Playwright or no Chromium; see tests/test_editor_browser.py)")
    print(f"  CPU: {util.cpu_name()}, {os.cpu_count()} cores; load average (1 min) {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} when done")
    print(f"  command: python bench/editor_latency.py{' --photo ' + args.photo if args.photo else ''} "
          f"--repeats {args.repeats}")


if __name__ == '__main__':
    main()
