"""The sessions of a training run, read from its log: when and on what each ran, on which numeric path,
which iterations and for how long. The wall time and machines of a model card.

    python bench/run_sessions.py models/sintel/full        # or the path of any train.py log.txt

A long run spans sittings and machines. train.py opens each session with a header (device and CPU with
its vector units, threads, start time in UTC) and its precision line, and closes it with `done: ...` or
`interrupted: ...` and its minutes. A session cut off without a closing line (a hard kill, a machine
shut down) ends at its last progress line, and its minutes are those of its last `min elapsed` line (a
lower bound, marked >=); the iterations after its last checkpoint are trained again by the next session,
so iteration ranges can overlap.
"""
import argparse
import os
import re
import sys

HEADER = re.compile(r'^== (?P<run>\S+) on (?P<machine>.*); started (?P<started>.*)$')
ENDS = {'done': re.compile(r'^done: iterations (\d+)\.\.(\d+) in ([\d.]+) min'),
        'interrupted': re.compile(r'^interrupted: saved a checkpoint at iteration (\d+) .* after ([\d.]+) min')}


def sessions(lines):
    """[{'started', 'machine', 'precision', 'first', 'last', 'minutes', 'end'}] from a log's lines; 'last'
    is the last iteration the session finished, 'end' is 'done', 'interrupted' or 'no closing line' (cut off, or still running)."""
    found = []
    for line in lines:
        line = line.rstrip('\n')
        header = HEADER.match(line)
        if header:
            found.append({'started': header['started'], 'machine': header['machine'], 'precision': '?',
                          'first': 0, 'last': None, 'minutes': None, 'end': 'no closing line'})
            continue
        if not found:
            continue
        session = found[-1]
        if line.startswith('precision: '):
            session['precision'] = line.split()[1]
        elif line.startswith('resuming at iteration '):
            session['first'] = int(line.split()[-1])
        elif line.startswith('it ') and '/' in line:
            session['last'] = int(line.split()[1].split('/')[0])
        elif ' min elapsed' in line:
            session['minutes'] = float(line.split()[0])
        elif ENDS['done'].match(line):
            _, last, minutes = ENDS['done'].match(line).groups()
            session.update(last=int(last), minutes=float(minutes), end='done')
        elif ENDS['interrupted'].match(line):
            stopped, minutes = ENDS['interrupted'].match(line).groups()
            session.update(last=int(stopped) - 1, minutes=float(minutes), end='interrupted')
    return [s for s in found if s['last'] is not None and s['last'] >= s['first']]


def table(found):
    """A markdown table of the sessions and a line of totals."""
    rows = ['| session | started | machine | precision | iterations | minutes | s per iteration | ended |',
            '|---|---|---|---|---|---|---|---|']
    total_minutes, bound = 0.0, ''
    for i, s in enumerate(found, 1):
        count = s['last'] - s['first'] + 1
        minutes = s['minutes'] or 0.0
        exact = s['end'] != 'no closing line'
        bound = bound or ('' if exact else '>= ')
        total_minutes += minutes
        rows.append(f"| {i} | {s['started']} | {s['machine']} | {s['precision']} | {s['first']:,}-{s['last']:,} "
                    f"| {'' if exact else '>= '}{minutes:.1f} | {60 * minutes / count:.2f} | {s['end']} |")
    last = max(s['last'] for s in found)
    sessions = '1 session' if len(found) == 1 else f'{len(found)} sessions'
    rows.append(f"\n{sessions}, iterations 0-{last:,}, wall time {bound}{total_minutes / 60:.2f} h "
                f"({bound}{total_minutes:.0f} min, start-up included)")
    return '\n'.join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('run', help="a model folder (its log.txt is read) or a train.py log file")
    args = parser.parse_args(argv)
    path = os.path.join(args.run, 'log.txt') if os.path.isdir(args.run) else args.run
    try:
        with open(path) as f:
            found = sessions(f)
    except OSError as e:
        raise SystemExit(f"error: {path}: cannot read the training log ({e.strerror})")
    if not found:
        raise SystemExit(f"error: {path}: no training session in this log (is it a train.py log.txt?)")
    print(table(found))
    return 0


if __name__ == '__main__':
    sys.exit(main())
