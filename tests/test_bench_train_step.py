"""bench/train_step.py: the training-speed figures docs/PERFORMANCE.md quotes come from a
run of the script, so its arithmetic and its profile reading are checked on a tiny batch."""
import re
import sys

from test_train import load_bench


def test_train_step_reports_each_figure_and_a_consistent_limit(monkeypatch, capsys):
    bench = load_bench('train_step')
    monkeypatch.setattr(sys, 'argv', ['train_step.py', '--batch-size', '2', '--precision', 'float32',
                                      '--iterations', '1', '--profile'])
    bench.main()
    out = capsys.readouterr().out
    assert "mixed_precision='auto' picks" in out
    assert 'convolution gradients' in out          # tuned (or forced) first, as train.py does
    ms = {name: float(re.search(rf'{name}\S*\s+([\d.]+) ms', out).group(1))
          for name in ('generator update:', 'critic update:', r'iteration, critic reward \(1 \+ \d+\):',
                       r'iteration, paired reward \(1 gen\):')}
    assert all(value > 0 for value in ms.values())
    # The GFLOP count scales with the batch (309 GFLOP at 64: about 10 at 2), and the percentage is that
    # count over the iteration's time against the matrix product measured in the same run.
    limit = re.search(r'reaches (\d+) GFLOPS here now; (\d+) GFLOP per iteration at (\d+) GFLOPS is (\d+)%', out)
    peak, gflop, achieved, percent = map(int, limit.groups())
    assert peak > 0 and gflop == 10
    it_ms = ms[r'iteration, critic reward \(1 \+ \d+\):']
    assert abs(achieved - gflop / it_ms * 1000) <= 1
    # Both GFLOPS figures are printed rounded to integers: on a loaded host (a limit of 14 GFLOPS) that
    # rounding alone moves their ratio by points, so the percentage is checked against its bounds.
    assert 100 * (achieved - 0.5) / (peak + 0.5) - 0.5 <= percent <= 100 * (achieved + 0.5) / (peak - 0.5) + 0.5
    hours = re.search(r'updates\): ([\d.]+) h; paired reward: ([\d.]+) h', out)
    assert float(hours.group(1)) > float(hours.group(2)) > 0
    # The profile names op types with their share of the op time, convolutions among them.
    profile = out[out.index('profile of one iteration'):]
    shares = [float(s) for s in re.findall(r' ms\s+([\d.]+)%', profile)]
    assert shares and abs(sum(shares) - 100) < 1
    assert re.search(r'Conv2D\S*\s+[\d.]+ ms', profile)
    assert re.search(r'convolution kernels ran during \d+ ms of the \d+ ms \(\d+%\)', profile)
