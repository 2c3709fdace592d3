"""How often evaluate.py's domain warning (domain.check) fires, per shipped model and set of photos:
on the model's own kind (its held-out split, which must stay quiet, and its training images) and on
photos of other kinds (which should warn). Prints, per set, how many photos warn and why (flat,
colourless, far), the largest distance of the quiet ones in EDGEs (domain.py) and the command.

  python bench/domain_warning.py [--models sintel/pretrained photos/pretrained] [--shared ../shared/data]

Sets (from --shared; a missing folder is left out): the model config's validation and training
splits of its own folder (`python data.py CONFIG --list val`), Sintel's input frames, Sintel's graded
target frames, the 290 well-exposed photos, 50 FiveK photos stored linear, and scikit-image's sample
photos. Each photo is read with the encoding evaluate.py would use for that model and viewed as the
agent sees it (develop.low_res_view).
"""
import argparse
import glob
import os
import sys

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_DIR)   # runnable as `python bench/domain_warning.py` from anywhere

import numpy as np  # noqa: E402
import skimage.data  # noqa: E402

import configurator  # noqa: E402
import data  # noqa: E402
import develop  # noqa: E402
import domain  # noqa: E402
import image_io  # noqa: E402
import model_folder  # noqa: E402

SKIMAGE_PHOTOS = ('astronaut', 'chelsea', 'coffee', 'rocket', 'camera', 'moon', 'page', 'hubble_deep_field')


def skimage_views():
    """scikit-image's sample photos as 8-bit sRGB files would be read (greyscale ones as grey RGB)."""
    for name in SKIMAGE_PHOTOS:
        img = getattr(skimage.data, name)()
        img = img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=-1)
        yield name, image_io.to_float(img[..., :3])


def views(paths, encoding):
    for path in paths:
        photo = develop.read_input(path, encoding)
        yield os.path.basename(path), develop.low_res_view(photo)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=['sintel/pretrained', 'photos/pretrained'],
                        help='shipped models as CONFIG/NAME (default: sintel/pretrained photos/pretrained)')
    parser.add_argument('--shared', default=os.path.join(PROJECT_DIR, '..', 'shared', 'data'),
                        help='the development data (default ../shared/data)')
    args = parser.parse_args(argv)
    s = args.shared
    for model in args.models:
        config, name = model.split('/')
        model_dir = os.path.join(PROJECT_DIR, 'models', config, name)
        cfg = configurator.load_snapshot(os.path.join(model_dir, 'config.json'), config)
        input_domain = model_folder.read_domain(model_dir)
        encoding = develop.model_encoding(cfg, 'auto')
        print(f"{model}: trained on {cfg.input_dir} ({input_domain['patches']} inputs recorded, encoding "
              f"{input_domain['encoding']}); warns from {domain.MARGIN} EDGEs")
        own = os.path.normpath(os.path.join(PROJECT_DIR, cfg.input_dir))
        sets = []
        if os.path.isdir(own):
            for split in ('val', 'train'):
                sets.append((f'its own {split} split', lambda split=split: views(data.folder_split(
                    configurator.apply_overrides(cfg, [f'--input_dir={own}']), 'input', split), encoding)))
        for label, folder in (('Sintel input frames', 'sintel/inputs'), ('Sintel graded frames', 'sintel/outputs'),
                              ('well-exposed photos', 'photos'), ('FiveK, stored linear', 'fivek_linear')):
            path = os.path.normpath(os.path.join(s, folder))
            if os.path.isdir(path) and path != own:
                sets.append((label, lambda path=path: views(image_io.list_images([path]), encoding)))
        sets.append(('scikit-image photos', skimage_views))
        for label, make in sets:
            kinds, quiet, loud = {'flat': 0, 'colourless': 0, 'far': 0}, [], []
            for photo, view in make():
                finding = domain.check(input_domain, view)
                if finding is None:
                    quiet.append(domain.distance(input_domain, image_io.image_statistics(view)))
                else:
                    kinds[finding.kind] += 1
                    loud.append(photo)
            n = len(quiet) + len(loud)
            named = f" ({', '.join(loud[:8])}{' ...' if len(loud) > 8 else ''})" if loud and len(loud) <= 8 else ''
            print(f"  {label:24s} {len(loud):3d} of {n:3d} warn ({kinds['flat']} flat, {kinds['colourless']} "
                  f"colourless, {kinds['far']} far){named}; the quiet ones reach {max(quiet, default=0):.2f} EDGEs")
    print(f"  command: python bench/domain_warning.py --models {' '.join(args.models)}")


if __name__ == '__main__':
    main()
