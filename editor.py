"""The editor: a local web page to see the agent's edit of each photo, adjust it, save its recipe and
export the full-resolution result.

  python editor.py [CONFIG MODEL] FOLDER_OR_FILES... [--port N] [--output-dir DIR] [--host ADDR]

It serves the page in editor/ and a small JSON API (Starlette, run by uvicorn). Everything that
touches pixels is the project's own code, so the page shows exactly what evaluate.py would make:
- the agent's edit: net.GAN.rollout on develop.low_res_view with develop.photo_seed, padded to
  evaluate.py's batch size, so a draw with seed S is the edit of `evaluate.py ... --seed S`;
- the preview: develop.Developer on a screen-size copy of the stored samples, linearized with the
  whole photo's curve (no filter formula in JavaScript), its alpha kept; Preview keeps float images so
  that a slider moved re-runs only the steps from its own on;
- Save: recipes.from_edits to the <name>.steps.json evaluate.py writes; Export: that recipe
  re-applied by evaluate.run, as `evaluate.py --recipe` does.

Safe by default: it listens on 127.0.0.1; it reads only the photos given (by the names the page
lists) and writes only recipes and results in the output folder; request bodies are bounded and
recipe values are checked as `evaluate.py --recipe` checks them.
"""
import argparse
import base64
import collections
import json
import os
import socket
import sys
import threading

import cv2
import numpy as np
import tensorflow as tf
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import atomic
import configurator
import develop
import domain
import evaluate
import filters as filter_lib
import image_io
import model_folder
import recipes
import results
import util

PAGE_DIR = os.path.join(configurator.PROJECT_DIR, 'editor')
PREVIEW_WIDTH = 1600       # the preview's width (pixels) for photos wider than that
THUMB_WIDTH = 240          # filmstrip and "another draw" pictures
MAX_BODY = 64 * 1024       # request bytes: a recipe of MAX_STEPS colour-curve steps is about 10 KB
MAX_STEPS = 20             # steps in one edit (the agent makes 5; a person rarely more than a few)
GAME_STEPS = 4             # steps a person makes in the game, as in the original's user study (spec 1.3)
OPEN_PHOTOS = 4            # photos kept read (full samples and their copies); others are read again
# Pixels per call of the preview's compiled development: 7 calls for a 1,600 x 1,067 preview. Each
# call costs about half a millisecond besides its pixels; with develop.CHUNK's 27 calls a 5-step
# preview took 61 ms against 53 (bench/editor_latency.py's edit, on 2 cores).
PREVIEW_CHUNK = 1 << 18
# Who chose a recipe's steps: the agent (a draw as it came), a person from a draw, a person from
# scratch, or a person playing the game (the original's user study: human edits to compare).
MADE_BY = ('agent', 'agent, adjusted', 'by hand', 'human')
LOCAL_HOSTS = ('127.0.0.1', 'localhost', '::1')
# What each parameter of a filter is, for the sliders' labels (the values are the filters' user units).
PARAM_NAMES = {'ExposureFilter': ['EV'], 'GammaFilter': ['gamma'], 'SaturationPlusFilter': ['strength'],
               'ImprovedWhiteBalanceFilter': ['red x', 'green x', 'blue x'], 'ContrastFilter': ['strength'],
               'WNBFilter': ['strength'], 'LevelFilter': ['black', 'white - 1']}


def param_names(f):
    if type(f).__name__ in PARAM_NAMES:
        return PARAM_NAMES[type(f).__name__]
    pieces = f.cfg.curve_steps          # the curves: one slope per piece (per channel for colour)
    channels = [''] if f.num_params == pieces else ['red ', 'green ', 'blue ']
    return [f'{c}slope {i + 1}' for c in channels for i in range(pieces)]


def refuse(status, message):
    raise HTTPException(status, message)


# ----------------------------------------------------------------------------------------------
# The photos given, and what may be read and written

class Library:
    """The photos given on the command line, each under a name the page uses (its path below the
    inputs' common folder), and where each one's recipe and results go (results.output_bases)."""

    def __init__(self, items, output_dir):
        tally = evaluate.Tally()
        files = evaluate.gather_inputs(items, tally)
        folders = [os.path.realpath(i) for i in items if os.path.isdir(i)]
        named = {os.path.realpath(f) for i in items if not os.path.isdir(i) for f in image_io.list_images([i])}
        kept = []
        for path in files:
            real = os.path.realpath(path)
            if not os.path.isfile(real):
                print(f"skipped: {path}: {image_io.permission_problem(real) or 'no such file'}", file=sys.stderr)
                continue
            # A link inside a folder given that leads out of it is not served: only what was given is.
            if real not in named and not any(real.startswith(folder + os.sep) for folder in folders):
                print(f"skipped: {path} leads out of the folders given (to {real}); give it by name to edit it",
                      file=sys.stderr)
                continue
            kept.append(path)
        common = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in kept]) if kept else ''
        self.paths = {os.path.relpath(os.path.abspath(p), common): p for p in kept}
        self.real = {name: os.path.realpath(p) for name, p in self.paths.items()}
        self.output_dir = output_dir
        self.bases = results.output_bases(kept, output_dir)
        for fmt in image_io.OUTPUT_FORMATS:
            results.check_outputs_spare_inputs(self.bases, fmt)

    def path(self, name):
        """The file of a photo name from a request; refuses anything else with 4xx."""
        if not isinstance(name, str) or not name:
            refuse(400, "give the photo's name, as the page lists it")
        parts = name.replace('\\', '/').split('/')
        if os.path.isabs(name) or name.startswith(('/', '\\')) or '..' in parts:
            refuse(400, f"{name!r}: give a photo's name as listed, not a path out of the folders given")
        if name not in self.paths:
            refuse(404, f"{name!r} is not one of the photos given to the editor")
        if os.path.realpath(self.paths[name]) != self.real[name]:
            refuse(403, f"{name!r} now leads elsewhere than when the editor started; restart the editor")
        return self.paths[name]

    def recipe_path(self, name):
        return results.output_paths(self.bases[self.path(name)], 'png')['recipe']


class Opened:
    """A photo read for the page: the full Photo (its curve and seed), a screen-size copy of its
    stored samples with its 8-bit alpha (None if opaque) and its Preview, a thumbnail copy, and the
    agent's 64x64 view."""

    def __init__(self, photo, developer):
        self.photo = photo
        self.screen = shrink(photo.samples, PREVIEW_WIDTH)
        self.alpha = None if photo.alpha is None else stored_8bit(shrink(photo.alpha, PREVIEW_WIDTH))
        self.preview = Preview(developer, self.screen, photo.curve)
        self.thumb = shrink(self.screen, THUMB_WIDTH)
        self.low = develop.low_res_view(photo)


class Preview:
    """The previews of one photo, developed from float images kept between them so that moving a
    slider re-runs only the steps from its own on: the screen copy linearized (at the first preview,
    not when opened: the filmstrip opens every photo for its thumbnail), and the image before the
    step that the last change was made in, keyed by the steps before it. One image, not one before
    every step: keeping each step's image (22 MB at 1,600 x 1,067) made a first step's slider's
    preview of five steps take 66 ms instead of 46, and a person moves one slider at a time. The
    images are develop's own between its steps, so the preview equals developing from scratch
    (tests/test_editor_api.py)."""

    def __init__(self, developer, samples, curve):
        self.developer, self.samples, self.curve = developer, samples, curve
        self.lock = threading.Lock()        # two tabs may preview one photo at once
        self.linear = None
        self.last = []                      # the last preview's steps (keys)
        self.kept = ((), None)              # (keys of the steps before it, the float image)

    def render(self, edits):
        """[(filter index, parameters)] -> the 8-bit RGB (H, W, 3) of the screen copy after them."""
        keys = [(a, p.tobytes()) for a, p in edits]
        with self.lock:
            if self.linear is None:
                self.linear = self.developer.linearize(self.samples, self.curve)
                self.kept = ((), self.linear)
            changed = next((i for i, (a, b) in enumerate(zip(keys, self.last)) if a != b),
                           min(len(keys), len(self.last)))
            self.last = keys
            kept_keys, kept = self.kept
        done = len(kept_keys)
        if tuple(keys[:done]) != kept_keys:
            done, kept = 0, self.linear
        if done < changed < len(edits):      # keep the image before the step changed, for its next change
            kept, done = self.developer.replay(kept, edits[done:changed]), changed
            with self.lock:
                self.kept = (tuple(keys[:done]), kept)
        return self.developer.replay_8bit(kept, edits[done:])


def shrink(samples, width):
    """A copy at most `width` wide (area average of the stored samples), or the samples themselves."""
    h, w = samples.shape[:2]
    if w <= width:
        return samples
    return cv2.resize(samples, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


# ----------------------------------------------------------------------------------------------
# The editing: the agent, the previews, recipes

class Editor:
    """The model (or none), its filter set, a preview Developer, the library and the open photos."""

    def __init__(self, library, config=None, model=None):
        self.library = library
        self.gan = self.model = self.domain = None
        if model:
            self.gan, cfg, model_dir, source = model_folder.load_model(config, model, None)
            self.model = f'{config}/{model}'
            self.domain = model_folder.read_domain(model_dir)      # warns as evaluate.py does
            print(f"model {model_dir} ({source})")
        else:
            cfg = configurator.load_config('example')          # the agent's filter set, for adjusting and the game
        self.filters = self.gan.filters if self.gan else filter_lib.build_filters(cfg)
        self.index = {type(f).__name__: i for i, f in enumerate(self.filters)}
        self.encoding = develop.model_encoding(cfg, 'auto') if self.gan else 'auto'
        self.developer = develop.Developer(self.filters, 8, False, PREVIEW_CHUNK)
        self.opened = collections.OrderedDict()      # name -> Opened, most recent last
        self.lock = threading.Lock()                 # the open photos and the model
        self.save_lock = threading.Lock()
        self.export_lock = threading.Lock()

    def filter_info(self):
        out = []
        for f in self.filters:
            low, high = recipes.parameter_bounds(f)
            neutral = f.parameters(tf.zeros([1, f.num_params])).numpy()[0]   # the heads' zero output
            out.append({'class': type(f).__name__, 'name': f.name, 'short_name': f.short_name,
                        'low': low.tolist(), 'high': high.tolist(), 'neutral': neutral.tolist(),
                        'param_names': param_names(f)})
        return out

    def open(self, name):
        path = self.library.path(name)
        with self.lock:
            if name in self.opened:
                self.opened.move_to_end(name)
                return self.opened[name]
        try:
            photo = develop.read_input(path, self.encoding)
        except image_io.ImageError as e:
            refuse(422, str(e))
        self.developer.warm_up(photo.dtype, 5)      # the agent's draws
        self.developer.warm_up_preview(photo.dtype)
        opened = Opened(photo, self.developer)
        with self.lock:
            self.opened[name] = opened
            while len(self.opened) > OPEN_PHOTOS:
                self.opened.popitem(last=False)
        return opened

    def edits(self, steps, limit=MAX_STEPS):
        """A request's steps [{'class', 'parameters'}, ...] -> [(filter index, float32 parameters)],
        each checked as recipes.load checks a recipe's steps."""
        if not isinstance(steps, list) or len(steps) > limit:
            refuse(422, f"'steps' must be a list of at most {limit} steps")
        out = []
        for i, step in enumerate(steps, 1):
            name = step.get('class') if isinstance(step, dict) else None
            if name not in self.index:
                refuse(422, f"step {i}: unknown filter {name!r}; use one of {', '.join(self.index)}")
            f = self.filters[self.index[name]]
            problem = recipes.parameter_problem(f, step.get('parameters'))
            if problem:
                refuse(422, f"step {i} ({f.name}): {problem}")
            out.append((self.index[name], np.asarray(step['parameters'], np.float32)))
        return out

    def develop(self, samples, photo, edits):
        if not edits:           # the photo as the agent sees it (the Developer needs a step)
            return image_io.quantize(photo.linear(samples), 8)
        return self.developer.develop(samples, photo.curve, edits)['retouched']

    def agent(self, name, seed):
        """The agent's edit of a photo with dropout seed `seed`, as `evaluate.py ... --seed seed` makes it."""
        if self.gan is None:
            refuse(409, "no model: start the editor with a config and a model name to see the agent's edit")
        opened = self.open(name)
        seeds = [develop.photo_seed(seed, opened.photo.samples, opened.photo.alpha)]
        with self.lock:
            steps = evaluate.agent_steps(self.gan, [opened.low], seeds)      # the draw evaluate.py makes
        edits = [(a, params.astype(np.float32)) for a, params in recipes.chosen_edits(steps, 0)]
        out = [{'class': type(self.filters[a]).__name__, 'parameters': params.tolist(),
                'label': self.filters[a].label(params, short=False), 'policy': s['pdf'][0].tolist(),
                'image': png_url(image_io.quantize(s['output'][0], 8))} for s, (a, params) in zip(steps, edits)]
        finding = domain.check(self.domain, opened.low) if self.domain else None
        return {'seed': seed, 'steps': out, 'result': png_url(self.develop(opened.thumb, opened.photo, edits)),
                'warning': finding.describe(self.model) if finding else None}

    def recipe(self, name, body):
        """The recipe of a request's edit of photo `name` (recipes.from_edits, as evaluate.py writes it)."""
        made_by = body.get('made_by', 'agent, adjusted')
        if made_by not in MADE_BY:
            refuse(422, f"'made_by' must be one of {', '.join(MADE_BY)}")
        edits = self.edits(body.get('steps'), GAME_STEPS if made_by == 'human' else MAX_STEPS)
        if not edits:
            refuse(422, "a recipe needs at least one step")
        policies = [step.get('policy') for step in body['steps']]
        for i, p in enumerate(policies, 1):
            if p is not None and not (isinstance(p, list) and len(p) == len(self.filters) and all(
                    isinstance(v, (int, float)) and 0 <= v <= 1 for v in p)):
                refuse(422, f"step {i}: 'policy' must be null or {len(self.filters)} probabilities")
        seed = body.get('seed')
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            refuse(422, "'seed' must be an integer or null")
        opened = self.open(name)
        views = [opened.low]
        for a, p in edits:          # the agent's view after each step, for the recipe's statistics
            views.append(self.filters[a].process(views[-1][None], p[None])[0].numpy())
        return recipes.from_edits(opened.photo.path, opened.photo.encoding, self.model, seed, self.filters,
                                  [(a, p, pdf) for (a, p), pdf in zip(edits, policies)], views, made_by)

    def save(self, name, recipe):
        """Writes the recipe to the photo's <name>.steps.json; two saves of one photo (two tabs) are
        written one after the other, each whole, so the later one wins."""
        path = self.library.recipe_path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with self.save_lock:
            atomic.write_json(path, recipe)
        return path

    def export(self, name, fmt, lut):
        """The photo developed at full resolution from its saved recipe by evaluate.py's own run, as
        `evaluate.py --recipe <name>.steps.json PHOTO --output-dir ...` writes it."""
        path = self.library.path(name)
        base = self.library.bases[path]
        argv = ['--recipe', self.library.recipe_path(name), '--output-dir', os.path.dirname(base) or '.',
                '--format', fmt] + (['--lut'] if lut else []) + [path]
        tally = ExportTally()
        with self.export_lock:
            try:
                evaluate.run(evaluate.parse_args(argv), tally)
            except evaluate.REFUSALS as e:
                refuse(422, str(e))
        if tally.messages:
            refuse(422, '; '.join(tally.messages))
        written = results.output_paths(base, fmt)
        return [p for p in written.values() if os.path.exists(p)]


class ExportTally(evaluate.Tally):
    """evaluate.py's tally, keeping why a photo was skipped for the page."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def skip(self, message):
        super().skip(message)
        self.messages.append(message)


def png_url(img8):
    return 'data:image/png;base64,' + base64.b64encode(cv2.imencode('.png', img8[..., ::-1])[1]).decode()


def picture(img8, alpha):
    """An 8-bit RGB image and its alpha (None: opaque) as the page draws them: the bytes of RGB, or
    of RGBA if transparent, the size and channels in the headers. Sent as they are: encoding a
    1,600-pixel PNG takes longer than developing it, and the browser receives RGB (5.1 MB) in 35 ms
    where RGBA took 45-55 (bench/editor_latency.py's preview)."""
    if alpha is not None:
        img8 = np.concatenate([img8, alpha[..., None]], axis=-1)
    return Response(np.ascontiguousarray(img8).data, media_type='application/octet-stream', headers={
        'X-Width': str(img8.shape[1]), 'X-Height': str(img8.shape[0]), 'X-Channels': str(img8.shape[2]),
        'Cache-Control': 'no-store'})


def stored_8bit(samples):
    return image_io.quantize(image_io.to_float(samples), 8)


# ----------------------------------------------------------------------------------------------
# The web API

async def read_json(request):
    """The request's JSON object; bodies over MAX_BODY are refused (413) before they are read whole."""
    length = request.headers.get('content-length')
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        refuse(413, f"request body over {MAX_BODY} bytes")
    body = b''
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            refuse(413, f"request body over {MAX_BODY} bytes")
    try:
        data = json.loads(body)
    except ValueError:
        refuse(400, "the request body must be JSON")
    if not isinstance(data, dict):
        refuse(400, "the request body must be a JSON object")
    return data


def make_app(editor):
    library = editor.library

    async def page(request):
        return FileResponse(os.path.join(PAGE_DIR, 'index.html'))

    async def session(request):
        return JSONResponse({'photos': sorted(library.paths), 'model': editor.model,
                             'filters': await run_in_threadpool(editor.filter_info),
                             'output_dir': os.path.abspath(library.output_dir), 'game_steps': GAME_STEPS,
                             'max_steps': MAX_STEPS})

    async def thumbnail(request):
        opened = await run_in_threadpool(editor.open, request.query_params.get('name'))
        return Response(cv2.imencode('.jpg', stored_8bit(opened.thumb)[..., ::-1])[1].tobytes(),
                        media_type='image/jpeg')

    async def before(request):
        opened = await run_in_threadpool(editor.open, request.query_params.get('name'))
        return picture(stored_8bit(opened.screen), opened.alpha)

    async def preview(request):
        body = await read_json(request)

        def render():
            opened = editor.open(body.get('name'))
            return picture(opened.preview.render(editor.edits(body.get('steps'))), opened.alpha)
        return await run_in_threadpool(render)

    async def agent(request):
        body = await read_json(request)
        seed = body.get('seed', 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2 ** 31:
            refuse(422, "'seed' must be an integer from 0 to 2^31 - 1")
        return JSONResponse(await run_in_threadpool(editor.agent, body.get('name'), seed))

    async def saved(request):
        path = library.recipe_path(request.query_params.get('name'))
        try:
            recipe = recipes.load(path)
        except recipes.RecipeError:
            return JSONResponse({'recipe': None})
        step_filters, edits, _ = recipe
        return JSONResponse({'recipe': [{'class': type(f).__name__, 'parameters': p.tolist()}
                                        for f, (_, p) in zip(step_filters, edits)]})

    async def save(request):
        body = await read_json(request)

        def work():
            recipe = editor.recipe(body.get('name'), body)
            return {'recipe': editor.save(body['name'], recipe)}
        return JSONResponse(await run_in_threadpool(work))

    async def export(request):
        """Saves the edit as each named photo's recipe and develops each at full resolution
        ("Apply to selected" names several)."""
        body = await read_json(request)
        names = body.get('names')
        if not isinstance(names, list) or not names or len(names) > len(library.paths):
            refuse(422, "'names' must list the photos to export")
        fmt = body.get('format', 'png')
        if fmt not in image_io.OUTPUT_FORMATS:
            refuse(422, f"'format' must be one of {', '.join(image_io.OUTPUT_FORMATS)}")

        def work():
            files = []
            for name in names:
                library.path(name)
                editor.save(name, editor.recipe(name, body))
                files += editor.export(name, fmt, body.get('lut') is True)
            return {'files': files}
        return JSONResponse(await run_in_threadpool(work))

    async def error(request, e):
        return JSONResponse({'error': e.detail}, status_code=e.status_code)

    routes = [Route('/', page), Route('/api/session', session), Route('/api/thumbnail', thumbnail),
              Route('/api/before', before), Route('/api/preview', preview, methods=['POST']),
              Route('/api/agent', agent, methods=['POST']), Route('/api/recipe', saved),
              Route('/api/save', save, methods=['POST']), Route('/api/export', export, methods=['POST']),
              Mount('/static', StaticFiles(directory=PAGE_DIR))]
    return Starlette(routes=routes, exception_handlers={HTTPException: error})


class Background:
    """The app served by uvicorn on a free port of 127.0.0.1 in a thread (the browser tests and the
    latency bench): `with Background(app) as served: ... served.url`."""

    def __init__(self, app):
        self.socket = socket.socket()
        self.socket.bind(('127.0.0.1', 0))
        self.url = f'http://127.0.0.1:{self.socket.getsockname()[1]}/'
        # log_config=None: uvicorn's logging set-up would close the handlers of the caller (pytest's).
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None))
        self.thread = threading.Thread(target=self.server.run, kwargs={'sockets': [self.socket]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            self.thread.join(0.05)
        return self

    def __exit__(self, *_):
        self.server.should_exit = True
        self.thread.join()


# ----------------------------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Open photos in a local web page: see the agent's edit, adjust it, save and export.",
        epilog="examples:\n  python editor.py photos pretrained shoot/\n  python editor.py shoot/ IMG_1.JPG"
               "      (no model: adjust saved recipes, or play the game)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('args', nargs='+', metavar='[CONFIG MODEL] FOLDER_OR_FILES',
                        help='optionally a config and a model name, then photos, folders or glob patterns')
    parser.add_argument('--port', type=int, default=8765, help='port to listen on (default 8765)')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to listen on (default 127.0.0.1: this computer only)')
    parser.add_argument('--output-dir', default='outputs', help='where recipes and results go (default: outputs/)')
    args = parser.parse_args([evaluate.dashed(a) for a in argv])
    first = args.args[0]
    # A config and a model name come first; a model name is not a file or folder.
    if len(args.args) >= 3 and configurator.config_name(first) in configurator.available_configs() and not os.path.exists(args.args[1]):
        args.config, args.model, args.images = configurator.config_name(first), args.args[1], args.args[2:]
    else:
        args.config = args.model = None
        args.images = args.args
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        results.prepare_output_dir(args.output_dir)
        library = Library(args.images, args.output_dir)
        if not library.paths:
            raise evaluate.Refused('no photos to edit: give photos, folders of photos or glob patterns')
        util.configure_tensorflow()
        editor = Editor(library, args.config, args.model)
    except evaluate.REFUSALS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.host not in LOCAL_HOSTS:
        print(f"warning: listening on {args.host}: anyone who can reach it can see the photos given and "
              f"write recipes and results to {os.path.abspath(args.output_dir)}", file=sys.stderr)
    host = f'[{args.host}]' if ':' in args.host else args.host
    print(f"editor: {len(library.paths)} photos; open http://{host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    uvicorn.run(make_app(editor), host=args.host, port=args.port, log_level='warning')
    return 0


if __name__ == '__main__':
    sys.exit(main())
