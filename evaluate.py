"""Retouch photos with a trained agent, or re-apply a saved edit recipe.

  python evaluate.py <config> <model-name> <images, folders or globs...>
  python evaluate.py --recipe outputs/A.tif.steps.json <images...>
  python evaluate.py --demo          (the shipped photo model on badly exposed photos from scikit-image)

The agent looks at the 64x64 centre square of each (linearized) image, picks 5 filters and their
parameters (argmax choice; dropout stays on, so use --seed for repeatable output), and the same
filter code replays those edits on the full-resolution image (spec 8.2; develop.py). Outputs keep the original
names: <name>.retouched.png, .intermediate00-03.png, .linear.png, .input_tone_mapped.png,
.steps.png (spec 8.3) and <name>.steps.json, a readable recipe replacing the original's pickle;
with --lut also <name>.cube, the whole development as a 3D LUT for other tools.

Speed: the full-resolution development (develop.Developer) runs on worker threads while the agent
looks at the next batch of photos.
"""
import argparse
import collections
import errno
import functools
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import atomic
import cli
import configurator
import data
import develop
import domain
import image_io
import lut
import model_folder
import recipes
import results
import vis

DEMO_MODEL = ('photos', 'pretrained')
LUT_SIZES = (33, 65)
BATCH_SIZE = 64      # images per run of the agent's networks, whatever --batch-size (see agent_steps)

EPILOG = """\
shipped models (README: which model for which photos): photos pretrained for everyday photos that are
too dark or too bright; sintel paired and sintel pretrained for renders like the Sintel film's.

examples:
  python evaluate.py photos pretrained photo.jpg IMG_0001.HEIC raw_folder/ "shoot/*.tif"
  python evaluate.py sintel paired frames/
  python evaluate.py example pretrained photos/*.tif
  python evaluate.py --recipe outputs/A.tif.steps.json other/*.tif
  python evaluate.py sintel pretrained shoot/ --lut       # also outputs/<name>.cube, then e.g.
  ffmpeg -i shoot/photo.jpg -vf lut3d=outputs/photo.jpg.cube photo_retouched.png
  python evaluate.py sintel pretrained shoot/ --seed 7 --shard 3/8 --skip-existing
  python evaluate.py --demo

output names: <output-dir>/<input file name>.retouched.png and so on. When two inputs share a file
name (DCIM/100/IMG_1.JPG, DCIM/101/IMG_1.JPG), every input's folders below the inputs' common
folder are repeated under <output-dir> (outputs/100/IMG_1.JPG.retouched.png, ...), so no result
replaces another. A file given twice is processed once.

exit status: 0 every photo retouched (or already done with --skip-existing); 1 some were skipped
(unreadable, a folder without images, results that could not be written); 2 nothing was done
(bad option, model, recipe or output folder); 130 interrupted by Ctrl-C, 143 by SIGTERM (kill, Slurm):
finished results are kept, unfinished ones leave no files.
"""


MAX_BATCH = 256        # photos read before the agent runs on them: their views (and samples) are held at once


def batch_size(text):
    value = int(text)
    if not 1 <= value <= MAX_BATCH:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_BATCH}, not {value}")
    return value


def shard_spec(text):
    """'K/N' -> (K, N) with 1 <= K <= N."""
    k, _, n = text.partition('/')
    try:
        k, n = int(k), int(n)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N such as 3/8, not {text!r}") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"{text}: K must be 1 to N (the parts are 1/{max(n, 1)} to "
                                         f"{max(n, 1)}/{max(n, 1)})")
    return k, n


def dashed(arg):
    """'--output_dir[=X]' -> '--output-dir[=X]'; anything else unchanged."""
    if not arg.startswith('--'):
        return arg
    name, eq, value = arg.partition('=')
    return name.replace('_', '-') + eq + value


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description='Retouch photos with a trained Exposure agent, or re-apply a saved recipe.',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('args', nargs='*', metavar='CONFIG MODEL IMAGE',
                        help='config name, model name, then image files, folders or glob patterns '
                             '(with --recipe: only images)')
    parser.add_argument('--recipe', help='apply this saved <name>.steps.json to the images (no network)')
    parser.add_argument('--demo', action='store_true',
                        help='correct sample photos bundled with scikit-image, rendered too dark or too '
                             'bright, with the shipped photo model (photos pretrained)')
    parser.add_argument('--output-dir', default='outputs', help='where results go (default: outputs/)')
    parser.add_argument('--format', choices=['png', 'png16', 'tiff16', 'jpeg'], default='png',
                        help='retouched image: 8-bit PNG (default), 16-bit PNG, 16-bit TIFF or JPEG '
                             '(quality 95, no chroma subsampling); each keeps the photo\'s profile and EXIF')
    parser.add_argument('--no-intermediates', action='store_true',
                        help='write only the retouched image and the recipe')
    parser.add_argument('--encoding', choices=['auto', 'display', 'linear', 'prophoto', 'srgb'],
                        default='auto', help='how stored values become linear input: auto (TIFF x^1.8, '
                        'JPEG/PNG sRGB x^2.2 scaled to max 0.5, RAW linear; a model trained on folder '
                        'data uses its config\'s input_encoding), or force one (e.g. linear for '
                        'already-linear TIFFs)')
    parser.add_argument('--seed', type=int,
                        help='seed the test-time dropout for repeatable output: a photo\'s edit then '
                             'depends only on the seed and its pixels (not its name, its position or the '
                             'other photos), e.g. --seed 7')
    parser.add_argument('--no-dropout', action='store_true',
                        help='turn the test-time dropout off: one deterministic edit per photo (the paper keeps '
                             'dropout on at test time, a one-to-many mapping; off, the five exposures of a scene '
                             'agree more: docs/USAGE.md)')
    parser.add_argument('--step', type=int, help='checkpoint step to load (default: newest): a training '
                        'checkpoint model.ckpt-N, or an actor kept every actor_snapshot_interval (actors/actor-N)')
    parser.add_argument('--batch-size', type=batch_size, default=BATCH_SIZE,
                        help=f'photos read before the agent runs on them (default {BATCH_SIZE}, at most {MAX_BATCH}); '
                             f'the agent\'s networks always run on groups of {BATCH_SIZE}, so with --seed a photo\'s '
                             'edit is the same whatever this is')
    parser.add_argument('--lut', action='store_true',
                        help='also write <name>.cube next to the recipe: the whole development of that photo '
                             '(linearization, edits, output) as a 3D LUT from its stored values to the '
                             'result\'s, for ffmpeg (-vf lut3d=<name>.cube), DaVinci Resolve, darktable; it '
                             'fits that photo (the sRGB linearization is scaled by its brightest value), e.g. '
                             'evaluate.py sintel pretrained shoot/ --lut')
    parser.add_argument('--lut-size', type=int, choices=LUT_SIZES, default=33,
                        help='points per side of the --lut grid (default 33; 65 is more exact near black '
                             'and 8 times larger)')
    parser.add_argument('--shard', type=shard_spec, metavar='K/N',
                        help='process only part K of N of the inputs sorted by path (contiguous parts whose '
                             'sizes differ by at most 1), so that N runs (e.g. a job array) cover a batch '
                             'once; with --seed each photo is retouched as in one run, e.g. --shard 3/8')
    parser.add_argument('--skip-existing', action='store_true',
                        help='skip photos whose <name>.retouched.* already exists in the output folder (it '
                             'is written last, so its set is complete; with --lut, also its .cube), e.g. to '
                             'rerun a failed shard')
    # train.py's config overrides are spelled --key_value: take --output_dir as --output-dir too.
    # Options may come after the images, and `--` ends the options (for a file named like one).
    argv = list(argv)
    end = argv.index('--') if '--' in argv else len(argv)
    args = parser.parse_intermixed_args([dashed(a) for a in argv[:end]] + argv[end:])
    if args.demo:
        args.config, args.model, args.images = *DEMO_MODEL, args.args
    elif args.recipe:
        args.config = args.model = None
        args.images = args.args
        named = args.images[:2]
        if len(named) == 2 and configurator.config_name(named[0]) in configurator.available_configs() and not any(
                os.path.exists(item) for item in named):
            parser.error(f"--recipe takes images only: {' '.join(named)} looks like a config and a model, which "
                         "a recipe does not use; give the images alone, e.g. evaluate.py --recipe "
                         "outputs/A.tif.steps.json other/*.tif")
    elif len(args.args) < 3:
        parser.error('give a config, a model name and at least one image (or --recipe / --demo)')
    else:
        args.config, args.model, args.images = args.args[0], args.args[1], args.args[2:]
    return args


class Refused(Exception):
    """A run with nothing to work on (no images given)."""


# Problems found before any photo is processed (model, recipe, output folder): main prints each as
# one line and exits with status 2, as argparse does for a bad option.
REFUSALS = (Refused, model_folder.ModelError, recipes.RecipeError, results.FolderError)


class PhotoError(Exception):
    """One photo's results could not be made or written; none of its files were left.
    disk_full: every later photo would fail the same way, so the run stops."""

    def __init__(self, message, disk_full=False):
        super().__init__(message)
        self.disk_full = disk_full


# ----------------------------------------------------------------------------------------------

# scikit-image's bundled photos (no download), each rendered with an exposure error (EV).
DEMO_PHOTOS = (('astronaut', -1.5), ('coffee', +1.0), ('chelsea', -1.0))


def prepare_demo_inputs(folder):
    """Writes scikit-image's bundled photos as if shot with exposure errors, for the photo model:
    linear light x 2^EV, clipped as a sensor clips, back to 8-bit sRGB (data.render_exposure)."""
    import skimage.data
    os.makedirs(folder, exist_ok=True)
    for name, ev in DEMO_PHOTOS:
        photo = getattr(skimage.data, name)()[..., :3].astype(np.float32) / 255
        image_io.write_image(os.path.join(folder, f'{name}_ev{ev:+.1f}.png'), data.render_exposure(photo, ev))
    print(f"demo inputs: {len(DEMO_PHOTOS)} photos from scikit-image with exposure errors "
          f"({', '.join(f'{n} {ev:+.1f} EV' for n, ev in DEMO_PHOTOS)}) in {folder}")
    return folder


# ----------------------------------------------------------------------------------------------
# Which photos

def gather_inputs(items, tally):
    """Command-line items -> the files to process, each real file once. A folder that holds no
    images is reported as skipped (a folder named x.jpg included)."""
    files, seen, passed_over = [], {}, []
    for item in items:
        try:
            found = image_io.list_images([item], passed_over)
        except OSError as e:        # a folder that cannot be listed: the other items go on
            tally.skip(f"{item}: cannot list the folder: {e.strerror.lower() if e.strerror else e}")
            continue
        if os.path.isdir(item) and not found:
            tally.skip(f"{item}: a folder without images (JPEG, PNG, TIFF or camera RAW files)")
        for path in found:
            real = os.path.realpath(path)
            if real in seen:
                print(f"note: {path} is the same file as {seen[real]}; processed once")
                continue
            seen[real] = path
            files.append(path)
    if passed_over:     # sidecars and macOS '._' files: expected beside photos, not errors
        print(image_io.passed_over_note(passed_over))
    return files


def shard(files, k, n):
    """Part k (1-based) of n of the files sorted by path: contiguous, sizes differing by at most 1."""
    ordered = sorted(files)
    return ordered[(k - 1) * len(ordered) // n:k * len(ordered) // n]


# ----------------------------------------------------------------------------------------------
# Running: the agent on batches, development and writing on worker threads

BATCH_BYTES = 1 << 30  # samples of a batch kept from reading to development; beyond, they are read again
IN_FLIGHT = 40e6       # pixels waiting for or in development and writing: bounds the memory


class Tally:
    """What became of the photos, for the summary line and the exit status; start: when the work began
    (loading the model or the recipe's filters), for the time reported."""

    def __init__(self):
        self.total = self.done = self.existing = self.skipped = 0
        self.start = time.time()

    def skip(self, message):
        print(f"skipped: {message}", file=sys.stderr, flush=True)
        self.skipped += 1


class Jobs:
    """Per-photo work (development and writing) on a few threads, reported in input order.

    TensorFlow and OpenCV release the GIL, so the main thread meanwhile reads the next photos and runs
    the agent. At most IN_FLIGHT pixels wait or run, which bounds the memory.
    """

    def __init__(self, tally, workers=2):
        self.tally = tally
        self.pool = ThreadPoolExecutor(workers)
        self.pending = collections.deque()        # (future, pixels), in input order
        self.pixels = 0

    def submit(self, pixels, fn, *args, **kwargs):
        self.pending.append((self.pool.submit(fn, *args, **kwargs), pixels))
        self.pixels += pixels
        while self.pending and (self.pixels > IN_FLIGHT or self.pending[0][0].done()):
            self._report_oldest()

    def _report_oldest(self):
        future, pixels = self.pending.popleft()
        self.pixels -= pixels
        error = self._report(future)
        if error and error.disk_full:
            raise error

    def _report(self, future):
        """Prints a finished photo's line, or why it was skipped. -> its PhotoError, if any."""
        try:
            print(future.result(), flush=True)
            self.tally.done += 1
        except PhotoError as e:
            self.tally.skip(str(e))
            return e
        return None

    def __enter__(self):
        return self

    def __exit__(self, error, *_):
        try:
            while self.pending and error is None:
                self._report_oldest()
        finally:
            # On an error or Ctrl-C the photos being written are finished first (no partial sets).
            self.pool.shutdown(cancel_futures=True)
            for future, _ in self.pending:
                if not future.cancelled():
                    self._report(future)


def develop_and_write(developer, photo, edits, paths, fmt, report, recipe=None, figure=None, cube=None):
    """A worker's share of one photo: the full-resolution edits and every file, written as one set.
    cube: for --lut, (a 16-bit Developer of the same filters, grid size, step labels). -> the report line."""
    start = time.time()
    problem = image_io.format_problem(photo.shape, fmt)
    if problem:
        raise PhotoError(f"{photo.path}: {problem}")
    if photo.alpha is not None and fmt == 'jpeg':
        print(f"note: {photo.path}: {image_io.JPEG_ON_WHITE}")
    try:
        metadata = image_io.read_metadata(photo.path)
        writers = {name: functools.partial(image_io.write_image, img=img,
                                           fmt=fmt if name == 'retouched' else 'png',
                                           metadata=metadata if name == 'retouched' else None,
                                           alpha=photo.alpha)
                   for name, img in developer(photo, edits).items()}
        photo.samples = None        # developed: a big photo's samples are hundreds of MB not needed again
        if recipe is not None:
            writers['recipe'] = functools.partial(atomic.write_json, obj=recipe)
        if figure is not None:
            writers['steps_png'] = functools.partial(image_io.write_image, img=figure, fmt='png')
        if cube is not None:
            lut_developer, size, labels = cube
            writers['lut'] = functools.partial(
                lut.write_cube, table=develop.colour_table(lut_developer, photo, edits, size),
                title=f'{os.path.basename(photo.path)} retouched', comments=develop.lut_comments(photo, labels))
        results.write_set(paths, writers)
    except image_io.ImageError as e:
        raise PhotoError(str(e)) from None
    except OSError as e:
        number = results.error_number(e)
        fix = image_io.OUTPUT_FIXES.get(number, e.strerror or str(e))
        raise PhotoError(f"{photo.path}: cannot write its results to {os.path.dirname(paths['retouched'])}: "
                         f"{fix}; none of its files were kept",
                         disk_full=number in (errno.ENOSPC, errno.EDQUOT)) from None
    return f"{report} ({time.time() - start:.2f} s)"


def output_bits(fmt):
    return 16 if fmt in ('png16', 'tiff16') else 8


def written(args):
    """The outputs a photo gets with these options (results.output_paths' names)."""
    return (['retouched', 'recipe'] + ['lut'] * args.lut
            + ([] if args.no_intermediates else ['linear', 'input_tone_mapped', 'steps_png', 'intermediate00']))


def todo(files, bases, args, tally):
    """(counter, path, output paths) of each photo still to do, in order. With --skip-existing, a
    photo whose result was made from it (its recipe records the input's path, size and time) is
    skipped; a result made from another photo of the same name is never taken for its own."""
    for k, path in enumerate(files, 1):
        counter = f"[{k}/{len(files)}]"
        paths = results.output_paths(bases[path], args.format)
        overlong = results.overlong_name(paths, written(args), args.output_dir)
        if overlong:
            name, limit = overlong
            shorter = '' if args.no_intermediates or len(os.fsencode(os.path.basename(paths['retouched']))) > limit \
                else ' (or use --no-intermediates)'
            tally.skip(f"{counter} {path}: its results' names would be too long for the output disk: "
                       f"{len(os.fsencode(name))} bytes ({name[:20]}...{name[-25:]}), {limit} at most; give "
                       f"the photo a shorter name{shorter}")
            continue
        whose = results.made_from(paths, path)
        if whose not in ('none', 'this', 'changed', 'unknown'):
            if args.skip_existing:      # replacing it would lose a result the user asked to keep
                tally.skip(f"{counter} {path}: {paths['retouched']} is the result of another photo, {whose}; "
                           "left as it is: give these photos another --output-dir")
                continue
            print(f"note: {counter} {path}: replacing {paths['retouched']}, the result of another photo "
                  f"of that name ({whose}); give another --output-dir to keep both", file=sys.stderr)
        elif args.skip_existing and whose != 'none':
            # With --lut a result without its .cube is not done: the set is made again (the same with --seed).
            if whose == 'this' and (not args.lut or os.path.exists(paths['lut'])):
                print(f"{counter} {path}: already done ({paths['retouched']} exists)", flush=True)
                tally.existing += 1
                continue
            if whose != 'this':
                why = 'changed since its result was made' if whose == 'changed' else \
                    f'no record of which photo {paths["retouched"]} was made from'
                print(f"note: {counter} {path}: {why}: retouched again")
        yield counter, path, paths


def read_or_skip(path, encoding, counter, tally):
    """The photo, or None after saying why it cannot be used (the other photos go on)."""
    try:
        return develop.read_input(path, encoding)
    except image_io.ImageError as e:
        tally.skip(f"{counter} {e}")
        return None


def batches(items, size):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def warn_outside_domain(input_domain, low_res, path, model):
    """One warning for a photo whose agent view is unlike the model's training inputs (domain.check):
    the result is still made, but the model has not learned what to do with such a photo."""
    finding = domain.check(input_domain, low_res)
    if finding:
        print(f"warning: {path}: {finding.describe(model)}", file=sys.stderr)


def agent_steps(gan, low, seeds=None):
    """The agent's rollout (net.GAN.rollout's steps) of at most BATCH_SIZE views. With seeds (each
    photo's own, develop.photo_seed), the group is padded to BATCH_SIZE: the networks' float sums
    differ in the last bits between batch sizes, so a photo's edit then depends on its seed and pixels
    alone, not on how many others it was read with nor on --batch-size; and no run is ever larger
    (editor.py draws through it, so its seed S is evaluate.py's --seed S)."""
    if seeds is not None:
        pad = BATCH_SIZE - len(low)
        low, seeds = list(low) + [np.zeros_like(low[0])] * pad, list(seeds) + [0] * pad
    return gan.rollout(np.stack(low), is_train=False, seed=seeds, critique=False)


def run_model(args, files, bases, tally):
    gan, cfg, model_dir, source = model_folder.load_model(args.config, args.model, args.step)
    if args.no_dropout:
        gan.actor.dropout_rate = 0.0     # read when the rollout is first traced, below
        source += ', test-time dropout off'
    encoding = develop.model_encoding(cfg, args.encoding)
    print(f"model {model_dir} ({source}); input encoding: {encoding}")
    input_domain = model_folder.read_domain(model_dir)
    developer = develop.Developer(gan.filters, output_bits(args.format), not args.no_intermediates)
    lut_developer = develop.Developer(gan.filters, 16, False) if args.lut else None
    with Jobs(tally) as jobs:
        for batch in batches(todo(files, bases, args, tally), args.batch_size):
            photos, low, seeds, kept = [], [], [], 0
            for counter, path, paths in batch:
                photo = read_or_skip(path, encoding, counter, tally)
                if photo is None:
                    continue
                photos.append((counter, photo, paths))
                low.append(develop.low_res_view(photo))
                if input_domain:
                    warn_outside_domain(input_domain, low[-1], photo.path, f'{args.config}/{args.model}')
                seeds.append(None if args.seed is None else develop.photo_seed(args.seed, photo.samples, photo.alpha))
                kept += photo.samples.nbytes
                if kept > BATCH_BYTES:      # a batch of big photos: read them again when developing
                    photo.samples = None
            if not photos:
                continue
            for dtype in {photo.dtype for _, photo, _ in photos}:
                developer.warm_up(dtype, cfg.test_steps)     # compiles while the agent runs
            if lut_developer:
                lut_developer.warm_up(np.dtype(np.float32), cfg.test_steps)     # the grid's samples
            for start in range(0, len(photos), BATCH_SIZE):
                group = slice(start, start + BATCH_SIZE)
                steps = agent_steps(gan, low[group], None if args.seed is None else seeds[group])
                for k, (counter, photo, paths) in enumerate(photos[group]):
                    edits = recipes.chosen_edits(steps, k)
                    low_res = [low[start + k]] + [s['output'][k] for s in steps]
                    recipe = recipes.make(photo.path, photo.encoding, f'{args.config}/{args.model}', args.seed,
                                          gan.filters, steps, k, low_res)
                    if args.no_dropout:
                        recipe['test_dropout'] = False
                    figure = None if args.no_intermediates else vis.steps_figure(
                        low_res, [{'action': e[0], 'pdf': s['pdf'][k], 'params': e[1]} for e, s in zip(edits, steps)],
                        gan.filters)
                    labels = [s['label'] for s in recipe['steps']]
                    report = f"{counter} {photo.path}: " + ' > '.join(labels) + f"  -> {paths['retouched']}"
                    cube = (lut_developer, args.lut_size, labels) if lut_developer else None
                    jobs.submit(photo.pixels, develop_and_write, developer, photo, edits, paths, args.format, report,
                                recipe, figure, cube)


def run_recipe(args, recipe, files, bases, tally):
    step_filters, edits, recipe_encoding = recipe
    labels = [f.label(p, short=False) for f, (_, p) in zip(step_filters, edits)]
    encoding = recipe_encoding if args.encoding == 'auto' else args.encoding
    print(f"recipe {args.recipe} (input encoding {encoding}): " + ' > '.join(labels))
    developer = develop.Developer(step_filters, output_bits(args.format), not args.no_intermediates)
    cube = (develop.Developer(step_filters, 16, False), args.lut_size, labels) if args.lut else None
    if cube:
        cube[0].warm_up(np.dtype(np.float32), len(edits))          # the grid's samples
    with Jobs(tally) as jobs:
        for counter, path, paths in todo(files, bases, args, tally):
            photo = read_or_skip(path, encoding, counter, tally)
            if photo is None:
                continue
            developer.warm_up(photo.dtype, len(edits))
            # Where the recipe applied is this photo's own (the editor's Export), it stays as it is: a
            # note that it was applied would replace what made it (model, seed, made_by, policies).
            own = os.path.exists(paths['recipe']) and os.path.samefile(paths['recipe'], args.recipe)
            recipe = None if own else recipes.applied(args.recipe, photo.path, photo.encoding, step_filters, edits)
            jobs.submit(photo.pixels, develop_and_write, developer, photo, edits, paths, args.format,
                        f"{counter} {path} -> {paths['retouched']}", recipe, cube=cube)


def run(args, tally):
    """Everything after parsing; raises one of REFUSALS for problems found before any photo is processed."""
    # A bad recipe or model name is refused before anything is created.
    recipe = recipes.load(args.recipe) if args.recipe else None
    if not args.recipe:
        args.config = configurator.config_name(args.config)
        model_folder.find_model(args.config, args.model)
    results.prepare_output_dir(args.output_dir)
    import util      # here: TensorFlow loads once the arguments are checked
    util.configure_tensorflow()
    if args.demo:
        args.images = args.images or [prepare_demo_inputs(os.path.join(args.output_dir, 'demo_inputs'))]
    files = gather_inputs(args.images, tally)
    if not files and not tally.skipped:
        raise Refused('no images given')
    bases = results.output_bases(files, args.output_dir)
    results.check_outputs_spare_inputs(bases, args.format)
    results.remove_leftovers(bases)
    if args.shard:
        part = shard(files, *args.shard)
        print(f"shard {args.shard[0]}/{args.shard[1]}: {len(part)} of the {len(files)} inputs (sorted by path)"
              + (f", {part[0]} to {part[-1]}" if part else ''))
        files = part
    tally.total, tally.start = len(files), time.time()
    if recipe:
        run_recipe(args, recipe, files, bases, tally)
    else:
        run_model(args, files, bases, tally)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    tally = Tally()
    try:
        with cli.sigterm_as_ctrl_c():
            run(args, tally)
    except REFUSALS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        what = 'terminated (SIGTERM)' if isinstance(e, cli.Terminated) else 'interrupted'
        print(f"{what} after {tally.done} of {tally.total} photos; finished results are kept",
              file=sys.stderr)
        return 143 if isinstance(e, cli.Terminated) else 130
    except PhotoError:                # the output disk is full (said above): every later photo would fail too
        print(f"stopped: no space left for the results; {tally.done} of {tally.total} photos were finished and "
              "are kept; free some space and run the same command with --skip-existing to do the rest",
              file=sys.stderr)
        return 1
    existing = f", {tally.existing} already done" if tally.existing else ''
    skipped = f"; {tally.skipped} skipped (see above)" if tally.skipped else ''
    print(f"{tally.done} of {tally.total} images retouched in {time.time() - tally.start:.1f} s{existing}; "
          f"results in {os.path.abspath(args.output_dir)}{skipped}")
    return 1 if tally.skipped else 0


if __name__ == '__main__':
    cli.safe_output()
    sys.exit(main())
