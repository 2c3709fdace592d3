"""bench/demo_figure.py remakes the README's demo figures with the shipped photo model."""
import re

import cv2

from test_train import load_bench


def test_demo_figure_shows_three_rows_and_reports_the_corrections(tmp_path, capsys):
    load_bench('demo_figure').main(['--out-dir', str(tmp_path)])
    out = capsys.readouterr().out
    figure = cv2.imread(str(tmp_path / 'demo_before_after.jpg'))
    # Three rows of 256 pixels with 8-pixel white gaps; astronaut 256 + coffee 384 + chelsea 384 wide.
    assert figure.shape == (3 * 256 + 2 * 8, 1024, 3)
    assert figure[256:264].min() > 240 and figure[520:528].min() > 240
    # The bottom row is the originals, the top their exposure errors: the -1.5 EV astronaut is darker.
    assert figure[:256, :256].mean() < figure[528:, :256].mean() - 20
    steps = cv2.imread(str(tmp_path / 'demo_steps.png'))
    assert steps is not None and steps.shape[0] > 100
    psnr = re.findall(r'(\w+) ([+-][\d.]+) EV: ([\d.]+) -> ([\d.]+) dB', out)
    assert [p[0] for p in psnr] == ['astronaut', 'coffee', 'chelsea']
    # Every photo is brought closer to its original, and by several dB on average (the shipped model
    # of 2026-12-01: +7.7, +2.3 and +19.0 dB; the over-exposed cup is its weakest).
    gains = [float(after) - float(before) for *_, before, after in psnr]
    assert min(gains) > 1 and sum(gains) / len(gains) > 5
    # No temporary files are left beside the figures.
    assert sorted(p.name for p in tmp_path.iterdir()) == ['demo_before_after.jpg', 'demo_steps.png']
