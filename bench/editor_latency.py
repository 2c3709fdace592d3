"""The editor's preview latency: the time from a slider change (a POST /api/preview with the new
parameters, as the page sends it) to the whole new preview received, for a 1,600-pixel-wide preview,
over HTTP from uvicorn as `python editor.py` serves it. Prints the median and spread, the part spent
developing (develop.Developer on the screen-size copy), the CPU and its load, and the command.

  python bench/editor_latency.py [--photo PATH] [--repeats 40]

Without --photo, scikit-image's astronaut enlarged to 2,400 x 1,600 (a 3:2 photo) is used; its
preview is 1,600 x 1,067. The edit is a typical agent's five steps (exposure, gamma, tone curve,
contrast, saturation); each request moves the exposure slider to a new value.
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


def post(url, body):
    request = urllib.request.Request(url, json.dumps(body).encode(), {'Content-Type': 'application/json'})
    with urllib.request.urlopen(request) as r:
        return r.read(), int(r.headers['X-Width']), int(r.headers['X-Height'])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--photo', help='a photo to preview (default: the astronaut at 2,400 x 1,600)')
    parser.add_argument('--repeats', type=int, default=40, help='slider changes timed (default 40)')
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp()
    photo = args.photo
    if photo is None:
        photo = os.path.join(folder, 'astronaut.jpg')
        cv2.imwrite(photo, cv2.resize(skimage.data.astronaut()[..., ::-1], (2400, 1600), interpolation=cv2.INTER_CUBIC))
    util.configure_tensorflow()
    ed = editor.Editor(editor.Library([photo], os.path.join(folder, 'out')))
    name = next(iter(ed.library.paths))
    opened = ed.open(name)
    with editor.Background(editor.make_app(ed)) as served:
        url = served.url + 'api/preview'
        for ev in (0.1, 0.2, 0.3):                 # compiles the development, fills the caches
            post(url, {'name': name, 'steps': STEPS})
            STEPS[0]['parameters'] = [ev]
        total, develop = [], []
        for k in range(args.repeats):
            STEPS[0]['parameters'] = [round(-1 + 2 * k / args.repeats, 3)]      # the slider moves
            start = time.perf_counter()
            _, width, height = post(url, {'name': name, 'steps': STEPS})
            total.append(time.perf_counter() - start)
            start = time.perf_counter()
            ed.develop(opened.screen, opened.photo, ed.edits(STEPS))
            develop.append(time.perf_counter() - start)
    ms = lambda xs: f"{1000 * statistics.median(xs):.0f} ms"      # noqa: E731
    print(f"editor preview latency, {width} x {height} preview of {os.path.basename(photo)} "
          f"({opened.photo.samples.shape[1]} x {opened.photo.samples.shape[0]}), {len(STEPS)} steps, "
          f"{args.repeats} slider changes")
    print(f"  slider change to preview received: median {ms(total)} (10% {1000 * np.percentile(total, 10):.0f}, "
          f"90% {1000 * np.percentile(total, 90):.0f} ms)")
    print(f"  of which developing (develop.Developer): median {ms(develop)}")
    print(f"  CPU: {util.cpu_name()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} "
          f"(1 min) when done")
    print(f"  command: python bench/editor_latency.py{' --photo ' + args.photo if args.photo else ''} "
          f"--repeats {args.repeats}")


if __name__ == '__main__':
    main()
