"""Where a photo's results go and how they are written: <output-dir>/<input name>.<suffix> (input
folders repeated when names clash), written as one set that appears whole or not at all."""
import collections
import os

import atomic
import image_io
import recipes


class FolderError(Exception):
    """An output folder that cannot be used; the message names it and the fix."""


def output_paths(base, fmt):
    """The files of one photo: base (the output folder and the input's name) + a suffix each."""
    ext = image_io.OUTPUT_FORMATS[fmt]
    return {'retouched': f'{base}.retouched{ext}', 'linear': f'{base}.linear.png',
            'input_tone_mapped': f'{base}.input_tone_mapped.png', 'steps_png': f'{base}.steps.png',
            'recipe': f'{base}.steps.json', 'lut': f'{base}.cube',
            **{f'intermediate{i:02d}': f'{base}.intermediate{i:02d}.png' for i in range(4)}}


def output_bases(files, out_dir):
    """{input: output folder and name, to which output_paths adds the suffixes}. Inputs keep their
    names; when two share one (ignoring case, as on case-insensitive disks), every input's folders below
    the inputs' common folder are repeated under out_dir, so no result replaces another. The rule is
    printed once; it depends on all the inputs, not on which of them a shard or a rerun processes."""
    names = collections.Counter(os.path.basename(p).lower() for p in files)
    if max(names.values(), default=0) < 2:
        return {p: os.path.join(out_dir, os.path.basename(p)) for p in files}
    common = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in files])
    bases = {p: os.path.join(out_dir, os.path.relpath(os.path.abspath(p), common)) for p in files}
    shared = sorted(n for n, count in names.items() if count > 1)
    example = next(p for p in files if os.path.basename(p).lower() == shared[0])
    print(f"note: {sum(names[n] for n in shared)} inputs share a file name with another ({', '.join(shared[:3])}"
          f"{', ...' if len(shared) > 3 else ''}), so the outputs repeat the input folders below {common} "
          f"under {out_dir}: e.g. {example} -> {bases[example]}.retouched.*")
    return apart_in_any_case(bases)


def apart_in_any_case(bases):
    """bases with those that differ only in case (A.jpg and a.jpg in one folder), which exFAT, SMB
    and macOS disks take for one name, told apart: after the first in path order, each gets a number
    before its extension (a~2.jpg)."""
    taken = {base.lower() for base in bases.values()}
    first = {}
    for path in sorted(bases):
        base = bases[path]
        if first.setdefault(base.lower(), path) == path:
            continue
        stem, ext = os.path.splitext(base)
        n = 2
        while f'{stem}~{n}{ext}'.lower() in taken:
            n += 1
        bases[path] = f'{stem}~{n}{ext}'
        taken.add(bases[path].lower())
        print(f"note: {path} and {first[base.lower()]} differ only in case, which case-insensitive disks "
              f"(exFAT, SMB, macOS) do not tell apart: its results are named {bases[path]}.*")
    return bases


def overlong_name(paths, names, out_dir):
    """The longest file name of the outputs `names` of paths if the output disk refuses it (a long
    input name plus a suffix such as '.input_tone_mapped.png'), else None."""
    try:
        limit = os.pathconf(out_dir, 'PC_NAME_MAX')
    except (OSError, ValueError):
        limit = image_io.MAX_NAME_BYTES
    longest = max((os.path.basename(paths[n]) for n in names), key=lambda name: len(os.fsencode(name)))
    return (longest, limit) if len(os.fsencode(longest)) > limit else None


def made_from(paths, path):
    """Whose result the files at paths hold, by their recipe's record of its input (recipes.input_record):
    'none' (no result), 'this' (the photo at path, unchanged since), 'changed' (that photo, changed
    since), 'unknown' (no record), or the full path of the other photo it was made from."""
    if not os.path.exists(paths['retouched']):
        return 'none'
    record, now = recipes.made_from(paths['recipe']), recipes.input_record(path)
    if not record or not isinstance(record.get('path'), str) or not now:
        return 'unknown'
    if record['path'] != now['path']:
        return record['path']
    return 'this' if record == now else 'changed'


def prepare_output_dir(out_dir):
    """Creates --output-dir and makes sure files can be written there, before any work."""
    existing = os.path.abspath(out_dir)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise FolderError(f"--output-dir {out_dir}: {existing} is a file, not a folder; choose another --output-dir")
    probe = None
    try:
        os.makedirs(out_dir, exist_ok=True)
        probe = atomic.temporary_path(out_dir, '.probe')
        open(probe, 'x').close()
    except OSError as e:
        raise FolderError(f"--output-dir {out_dir}: cannot write there ({e.strerror}); choose another "
                          "--output-dir or make it writable")
    finally:
        if probe and os.path.exists(probe):
            os.remove(probe)


def remove_leftovers(bases):
    """Deletes the temporary files (.tmp-*) that a run killed outright (kill -9, a power cut) left in
    the output folders, and says how many; a concurrent run's live ones are younger and stay."""
    removed = []
    for folder in sorted({os.path.dirname(base) or '.' for base in bases.values()}):
        removed += atomic.remove_stale_temporaries(folder)
    if removed:
        print(f"note: removed {len(removed)} temporary file{'s' if len(removed) > 1 else ''} left by an "
              f"interrupted run ({removed[0]}{', ...' if len(removed) > 1 else ''})")


def check_outputs_spare_inputs(bases, fmt):
    real_inputs = {os.path.realpath(p) for p in bases}
    for base in bases.values():
        for out in output_paths(base, fmt).values():
            if os.path.realpath(out) in real_inputs:
                raise FolderError(f"writing to {os.path.dirname(base) or '.'} would overwrite the input {out}; "
                                  "choose another --output-dir")


def write_set(paths, writers):
    """writers: {output name: function writing that output at a given path}. All are written under
    temporary names, then renamed into place with the retouched result last: a photo's set appears
    whole or not at all (a failure removes what was written), and an existing result means its set is
    complete (--skip-existing)."""
    names = sorted(writers, key=lambda n: n == 'retouched')
    for name in names:
        os.makedirs(os.path.dirname(os.path.abspath(paths[name])), exist_ok=True)
    with atomic.publish([paths[name] for name in names]) as temporaries:
        for name, tmp in zip(names, temporaries):
            writers[name](tmp)


def error_number(e):
    """The OS error number of a failed write (image_io.OutputError keeps it in its context)."""
    return e.errno if e.errno is not None else getattr(e.__context__, 'errno', None)
