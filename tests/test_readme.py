"""The documented commands run as written: every `python ...` line of the README and of docs/*.md names
a script that exists and options it accepts, and the ones that work offline on a fresh clone (the demo,
re-applying its recipe, the validation split) are run."""
import contextlib
import glob
import importlib.util
import io
import os
import re
import shlex

import pytest

import configurator
from conftest import SHARED_DATA

# The README keeps the common commands; the reference pages in docs/ hold the rest.
DOCUMENTS = [os.path.join(configurator.PROJECT_DIR, 'README.md')] + sorted(glob.glob(os.path.join(configurator.PROJECT_DIR, 'docs', '*.md')))


def readme_commands():
    """Every `python SCRIPT ...` command in the documents' bash blocks, continuation lines joined."""
    text = '\n'.join(open(path).read() for path in DOCUMENTS)
    commands = []
    for block in re.findall(r'```bash\n(.*?)```', text, re.S):
        for line in block.replace('\\\n', ' ').splitlines():
            line = line.split('  #')[0].split(' # ')[0].strip()
            line = line.split('&& ')[-1].replace('.venv/bin/python', 'python')
            if line.startswith('python ') and line.split()[1].endswith('.py'):
                commands.append(shlex.split(line)[1:])
    return commands


def load_script(script):
    path = os.path.join(configurator.PROJECT_DIR, script)
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(script))[0] + '_readme', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def help_text(script):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        load_script(script).main(['--help'])
    return out.getvalue()


def test_every_readme_command_names_a_script_and_its_options():
    commands = readme_commands()
    assert len(commands) >= 15
    config_keys = set(vars(configurator.load_config('photos')))
    helps = {}
    for script, *args in commands:
        assert os.path.isfile(os.path.join(configurator.PROJECT_DIR, script)), script
        helps.setdefault(script, help_text(script))
        for arg in args:
            if not arg.startswith('--'):
                continue
            option, _, value = arg.partition('=')
            if script == 'train.py' and value:      # config overrides: --key=value
                assert option[2:] in config_keys, (script, arg)
            else:
                assert option in helps[script], (script, option)
        if script == 'train.py' and args and not args[0].startswith('-'):
            assert args[0] in configurator.available_configs()


def test_readme_demo_and_recipe_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                  # a user's folder: models are found in the project
    evaluate = load_script('evaluate.py')
    runnable = [c for c in readme_commands() if c[0] == 'evaluate.py' and ('--demo' in c or '--recipe' in c)]
    assert [c[1:] for c in runnable] == [['--demo'], ['--recipe', 'outputs/astronaut_ev-1.5.png.steps.json',
                                                       'outputs/demo_inputs/', '--output-dir', 'outputs/again']]
    for command in runnable:
        assert evaluate.main(command[1:]) == 0, command
    assert sorted(os.listdir('outputs/again')) and os.path.exists('outputs/again/chelsea_ev-1.0.png.retouched.png')


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, 'photos')), reason='needs ../shared/data')
def test_readme_validation_split_lists_held_out_photos(monkeypatch, capsys):
    monkeypatch.chdir(configurator.PROJECT_DIR)
    assert ['data.py', 'photos', '--list', 'val'] in readme_commands()
    load_script('data.py').main(['photos', '--list', 'val'])
    assert len(capsys.readouterr().out.split()) == 44
