"""What the command-line scripts share with the shell around them: output that never stops the work
(a pipe whose reader has gone, as with `| head`; a full disk, as with `> /dev/full`), SIGTERM,
what `kill` and Slurm send, taken as Ctrl-C, and work that either may not cut short."""
import contextlib
import os
import signal
import sys
import threading


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread, so that a script stops as on Ctrl-C: finished results kept,
    temporary files removed."""


def _terminate(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_ctrl_c():
    """Within it, SIGTERM raises Terminated; the previous handler is restored after. (Python can set
    signal handlers in the main thread only; elsewhere SIGTERM keeps its handler.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def interrupts_held(what, stopping=False):
    """Within it, Ctrl-C (SIGINT) and SIGTERM do not cut `what` (saving a checkpoint: cut, it would be
    lost) short: each prints that it waits for it. After it, the handlers are restored and, unless the
    run is already stopping, the first one held is handed to its own handler, as if it came then. Main
    thread only, as signal handlers are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = []

    def hold(signum, frame):
        held.append(signum)
        print(f"\n{'Ctrl-C' if signum == signal.SIGINT else 'SIGTERM'} while {what}: stopping once it is "
              "done", file=sys.stderr, flush=True)
    previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if held and not stopping:
        handler = previous[held[0]]
        if callable(handler):
            handler(held[0], None)
        else:                           # the default action (or none, if ignored), as if it came now
            signal.raise_signal(held[0])


class SafeStream:
    """A text stream whose failures drop what follows instead of stopping the run."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        try:
            return self.stream.write(text)
        except OSError:
            self._drop()
            return len(text)

    def flush(self):
        try:
            self.stream.flush()
        except OSError:
            self._drop()

    def _drop(self):
        # Later writes, and the interpreter's own flush at exit, go to the null device.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.stream.fileno())
        os.close(devnull)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def safe_output():
    """For a script run from the shell: stdout and stderr that cannot fail, and names that are not
    UTF-8 (a file name's bytes, kept by Python as surrogates) printed as backslash escapes."""
    for name in ('stdout', 'stderr'):
        stream = getattr(sys, name)
        if not isinstance(stream, SafeStream):
            stream.reconfigure(errors='backslashreplace')
            setattr(sys, name, SafeStream(stream))
