"""The ``xlogreg`` command line: ``train``, ``predict``, ``pictures`` and ``backends``.

Thin on purpose: parse the arguments, call the library, print. The
exit status says what happened:

* 0: done;
* 1: training diverged, or an output file could not be written at the end;
* 2: a user error (bad option, missing or malformed file, unusable backend),
  printed as one line ``xlogreg: error: ...`` without a traceback;
* 130: interrupted by Ctrl-C (with ``--save``, the model trained so far is
  saved first, marked as interrupted).

Anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass

from . import __version__, _backends
from .io.hdf5 import DataError

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: Default learning rates: the course's for its images; the embedded digits
#: (64 features, 1 positive in 10) need a larger one to learn in 2000 iterations.
COURSE_LEARNING_RATE = 0.005
DIGITS_LEARNING_RATE = 0.1


class UserError(Exception):
    """A problem with what the user asked for: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line ``xlogreg: error: ...`` (exit status 2) instead of usage + error."""

    def error(self, message):
        raise UserError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------- argument types


def _number(text, *, positive):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or (positive and value <= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _positive_float(text):
    return _number(text, positive=True)


def _float_list(text):
    values = [_positive_float(part.strip()) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected numbers > 0 separated by commas, got {text!r}")
    return values


def _int_at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _nonnegative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def _digit(text):
    if text == "all":
        return text
    value = _int_at_least(0)(text)
    if value > 9:
        raise argparse.ArgumentTypeError(f"must be a digit 0..9 or 'all', got {text!r}")
    return value


def _seed(text):
    """A seed for scikit-learn's split: 0 <= seed < 2**32."""
    value = _int_at_least(0)(text)
    if value >= 2**32:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 2**32 - 1, got {text!r}")
    return value


def _plot_path(text):
    from .plotting import plot_format

    try:
        plot_format(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _device(text):
    """Devices by name ("cuda:1", "cpu") or by index ("1")."""
    return int(text) if text.isdigit() else text


# --------------------------------------------------------------------------- the parser


def build_parser():
    parser = _Parser(
        prog="xlogreg",
        description="Logistic regression with a neural network mindset: train a sigmoid neuron on "
                    "images, save it, plot its learning curve, classify pictures.",
    )
    parser.add_argument("--version", action="version", version=f"xlogreg {__version__}")
    # Not required=True: argparse would then report a missing COMMAND before an unknown option
    # (`xlogreg --bogus`); main() checks both, the unknown options first.
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    train = commands.add_parser(
        "train", help="train a model (default data: the embedded 8x8 digits, 'is it a 0?')",
        description="Train by batch gradient descent from zero, printing the cost every --record-every "
                    "iterations and the final train and test accuracy. Without --train, trains on "
                    "scikit-learn's bundled 8x8 digits as the binary task 'is it DIGIT?' (no network).",
    )
    data = train.add_argument_group("data")
    data.add_argument("--train", metavar="PATH", help="training data: a course-format HDF5 file")
    data.add_argument("--test", metavar="PATH", help="test data: a course-format HDF5 file")
    data.add_argument("--x-key", metavar="KEY", help="dataset of the images (default: the key ending in _set_x)")
    data.add_argument("--y-key", metavar="KEY", help="dataset of the labels (default: the key ending in _set_y)")
    data.add_argument("--classes-key", metavar="KEY", help="dataset of the class names (default: list_classes)")
    data.add_argument("--scale", type=_positive_float,
                      help="divide the stored values by this (default: 255 for integer pixels, as the "
                           "course; floating-point features are used as stored)")
    data.add_argument("--digit", type=_digit, default=0,
                      help="embedded data only: the digit to recognise (default: 0), or 'all' for "
                           "the ten classes 0..9 (softmax regression)")
    data.add_argument("--seed", type=_seed, default=0,
                      help="embedded data only: seed of the random train/test split (default: 0)")

    opt = train.add_argument_group("training")
    _add_backend_options(opt)
    opt.add_argument("--dtype", choices=("float32", "float64"),
                     help="floating dtype (default: the device's default, float64 on NumPy)")
    opt.add_argument("-n", "--iterations", type=_int_at_least(0), default=2000,
                     help="number of gradient descent iterations (default: 2000)")
    rates = opt.add_mutually_exclusive_group()
    rates.add_argument("--learning-rate", "--lr", type=_positive_float, metavar="RATE",
                       help=f"learning rate (default: {COURSE_LEARNING_RATE}, the course's, for --train data; "
                            f"{DIGITS_LEARNING_RATE} for the embedded digits)")
    rates.add_argument("--learning-rates", type=_float_list, metavar="R1,R2,...",
                       help="train one model per learning rate and plot them together, as the course does")
    opt.add_argument("--l2", type=_nonnegative_float, default=0.0, metavar="LAMBDA",
                     help="L2 regularisation strength, lambda / (2 m) ||w||^2 in the cost (default: 0)")
    opt.add_argument("--l1", type=_nonnegative_float, default=0.0, metavar="LAMBDA",
                     help="L1 regularisation strength, lambda / m ||w||_1 in the cost (default: 0); above 0, "
                          "training runs the proximal Newton solver (prox-newton: --iterations counts its "
                          "outer iterations, the learning rate is not used) and gives exact zeros in w")
    opt.add_argument("--tol", type=_nonnegative_float, metavar="TOL",
                     help="stop at the first recorded iteration where the gradient's norm is at most "
                          "TOL (default: run all iterations)")
    opt.add_argument("--record-every", type=_int_at_least(1), default=100, metavar="N",
                     help="record and print the cost every N iterations (default: 100)")
    opt.add_argument("--solver", choices=("auto", "primal", "dual", "prox-newton"), default="auto",
                     help="primal (on X) or dual (on the Gram matrix); auto picks the cheaper, or "
                          "prox-newton where --l1 is above 0")
    opt.add_argument("--scheduler", metavar="ADDRESS",
                     help="with --backend dask: the dask.distributed scheduler to run on, e.g. "
                          f"tcp://host:8786 (default: ${_backends.SCHEDULER_ENV}, else local threads). "
                          "With --train, the files are read by the workers: they must see them at "
                          "the same paths")

    out = train.add_argument_group("output")
    out.add_argument("--save", metavar="FILE", help="write the trained model to FILE (HDF5)")
    out.add_argument("--plot", metavar="FILE", type=_plot_path,
                     help="write the learning curve to FILE (.png, .pdf or .svg)")
    out.add_argument("--json", metavar="FILE", help="write a JSON summary of the run to FILE")
    out.add_argument("-q", "--quiet", action="store_true",
                     help="no progress bar and no cost lines (the progress bar is also off when "
                          "stderr is not a terminal)")
    train.set_defaults(func=cmd_train)

    predict = commands.add_parser(
        "predict", help="classify image files, or measure accuracy on an HDF5 data file",
        description="Classify pictures (any format Pillow reads; converted, resized and scaled as "
                    "the training data) and/or report accuracy and the confusion matrix on --data.",
    )
    predict.add_argument("model", metavar="MODEL", help="a model file written by 'xlogreg train --save'")
    predict.add_argument("images", metavar="IMAGE", nargs="*", help="image files to classify")
    predict.add_argument("--data", metavar="FILE", help="a course-format HDF5 file with labels")
    predict.add_argument("--x-key", metavar="KEY", help="dataset of the images in --data")
    predict.add_argument("--y-key", metavar="KEY", help="dataset of the labels in --data")
    _add_backend_options(predict)
    predict.add_argument("--dtype", choices=("float32", "float64"),
                         help="floating dtype to predict in (default: the model's)")
    predict.set_defaults(func=cmd_predict)

    pictures = commands.add_parser(
        "pictures", help="write examples of a data file as PNG pictures (to try 'xlogreg predict' on)",
        description="Write the chosen examples of a course-format HDF5 file as PNG files named "
                    "PREFIX<index>.png (test1.png for example 1 of test_set_x), atomically; "
                    "only those examples are read.",
    )
    pictures.add_argument("data", metavar="DATA", help="a course-format HDF5 file")
    pictures.add_argument("indices", metavar="INDEX", type=_int_at_least(0), nargs="+",
                          help="examples to write, counted from 0")
    pictures.add_argument("--out-dir", metavar="DIR", default=".", help="folder to write into (default: .)")
    pictures.add_argument("--prefix", metavar="NAME",
                          help="file name prefix (default: the key's, 'test' for test_set_x)")
    pictures.add_argument("--size", type=_int_at_least(1), metavar="PIXELS",
                          help="resize to PIXELS x PIXELS (default: the stored size)")
    pictures.add_argument("--x-key", metavar="KEY", help="dataset of the images in DATA")
    pictures.add_argument("--y-key", metavar="KEY", help="dataset of the labels in DATA")
    pictures.set_defaults(func=cmd_pictures)

    backends = commands.add_parser("backends", help="list the array backends and whether they can be used here")
    backends.set_defaults(func=cmd_backends)
    return parser


def _add_backend_options(group):
    group.add_argument("--backend", choices=_backends.BACKENDS,
                       help="array library to compute with (default: numpy)")
    group.add_argument("--device", type=_device,
                       help="device of the backend, by name (cuda:0, cpu) or index (default: its default)")


# --------------------------------------------------------------------------- helpers


def _error(message):
    print(f"xlogreg: error: {message}", file=sys.stderr)


def _check_output(path, option):
    """Refuse an output path that cannot be written, before spending time on training.

    Outputs are written atomically, by renaming a complete new file over the
    old one: that would replace a device, a named pipe or a socket with a
    regular file (``--json /dev/null`` run as root would replace the
    system's ``/dev/null``), so only regular files, or paths that do not
    exist yet, are accepted. A symbolic link to a regular file is written
    through (the link stays).
    """
    import stat

    from .io.hdf5 import _file_kind

    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None  # a new file (or a dangling link, whose target will be created)
    if mode is not None and stat.S_ISDIR(mode):
        raise UserError(f"{option} {path}: is a directory")
    if mode is not None and not stat.S_ISREG(mode):
        kind = _file_kind(mode)
        raise UserError(f"{option} {path}: is {kind}, not a regular file; xlogreg writes its outputs by renaming "
                        f"a new file over the old one, which would replace the {kind.split()[-1]}: give the path "
                        "of a regular file")
    if mode is None and os.path.islink(path):
        directory = os.path.dirname(os.path.realpath(path))
    if not os.path.isdir(directory):
        raise UserError(f"{option} {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise UserError(f"{option} {path}: directory {directory} is not writable")


def _same_file(a, b):
    """Whether two paths name one file: the same resolved path, or the same inode (hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False


def _check_paths(inputs, outputs):
    """Refuse an output that is also an input or another output, before anything is read or written.

    `inputs` and `outputs` are (option, path) pairs; paths that are None are skipped.
    """
    inputs = [(o, p) for o, p in inputs if p is not None]
    outputs = [(o, p) for o, p in outputs if p is not None]
    for i, (option, path) in enumerate(outputs):
        for other, other_path in inputs:
            if _same_file(path, other_path):
                raise UserError(f"{option} {path} would overwrite the input {other} {other_path}; "
                                f"give {option} another path")
        for other, other_path in outputs[:i]:
            if _same_file(path, other_path):
                raise UserError(f"{option} {path} and {other} {other_path} name the same file; "
                                "give each output its own path")


def _resolve_backend(backend, device, dtype):
    """(namespace, device, dtype) from the options; unusable ones are user errors."""
    backend = backend or "numpy"
    if backend == "jax" and dtype == "float64":
        # JAX computes in float32 unless x64 is enabled before it is imported;
        # asking for float64 on the command line is that explicit choice.
        os.environ.setdefault("JAX_ENABLE_X64", "1")
    try:
        xp, dev = _backends.resolve(backend, device)
        return xp, dev, _backends.floating_dtype(xp, dev, dtype)
    except (_backends.BackendError, ValueError) as exc:
        raise UserError(str(exc)) from None


def _dtype_name(xp, dtype):
    return next((n for n in ("float32", "float64") if getattr(xp, n, None) == dtype), str(dtype))


@dataclass
class _Data:
    X: object
    Y: object
    X_test: object
    Y_test: object
    classes: list
    image_shape: tuple | None
    preprocessing: dict
    description: str


def _image_shape(x):
    shape = tuple(int(s) for s in x.shape[1:])
    if len(shape) == 3:
        return shape
    if len(shape) == 2:
        return shape + (1,)
    return None


def _load_training_data(args):
    import numpy as np

    from .io.datasets import decode_classes, flatten_images, load_digits, load_h5
    from .io.lazy import flatten_lazy, open_lazy_images

    if args.train is None:
        train_x, train_y, test_x, test_y, classes = load_digits(args.digit, seed=args.seed)
        # The digits hold 0..16 with the ink high: pictures of dark ink on white are inverted.
        preprocessing = {"scale": 16.0, "invert": True}
        description = ("embedded digits (ten classes)" if args.digit == "all"
                       else f"embedded digits (is it a {args.digit}?)")
    else:
        keys = dict(x_key=args.x_key, y_key=args.y_key, classes_key=args.classes_key)
        # Dask: out of core, the files stay on disk and are read chunk by chunk every iteration.
        load = open_lazy_images if args.backend == "dask" else load_h5
        train_x, train_y, classes = load(args.train, **keys)
        test_x = test_y = None
        if args.test is not None:
            test_x, test_y, test_classes = load(args.test, **keys)
            if test_x.shape[1:] != train_x.shape[1:]:
                raise DataError(f"{args.test}: examples of shape {test_x.shape[1:]} do not match the "
                                f"training examples of shape {train_x.shape[1:]} in {args.train}")
            classes = classes if classes is not None else test_classes
        # The course's / 255 is for integer pixels; floating-point features (embeddings, measurements)
        # are used as stored unless --scale says otherwise, and the "Data:" line says which.
        integer = np.dtype(train_x.dtype).kind in "iub"
        scale = args.scale if args.scale is not None else 255.0 if integer else 1.0
        preprocessing = {"scale": scale}
        how = (f"values divided by {scale:g}" + (" (integer pixels; --scale to change)" if args.scale is None else "")
               if scale != 1.0 or args.scale is not None else "floating-point values used as stored (--scale to divide)")
        description = f"{args.train} ({how})"
    classes = decode_classes(classes)
    if len(classes) < 2:
        raise DataError(f"{args.train}: expected at least 2 class names (label 0, label 1, ...); got {classes}")
    scale = preprocessing["scale"]
    flatten = (functools.partial(flatten_lazy, dtype=args.dtype or "float64")
               if args.backend == "dask" and args.train is not None else flatten_images)
    X_test = None if test_x is None else flatten(test_x, scale)
    return _Data(flatten(train_x, scale), train_y, X_test, test_y, classes,
                 _image_shape(train_x), preprocessing, description)


def _progress_bar(total, quiet, desc):
    """A tqdm bar on stderr, or None when quiet, stderr is not a terminal, or tqdm is missing."""
    if quiet or not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    try:
        known_width = os.get_terminal_size(sys.stderr.fileno()).columns > 0
    except (OSError, ValueError):
        known_width = False
    # A terminal that reports no size (a bare pty) would get an empty bar: assume 80 x 24 there.
    size = {"dynamic_ncols": True} if known_width else {"ncols": 80, "nrows": 24}
    return tqdm(total=total, desc=desc, unit="it", file=sys.stderr, **size)


def _make_callback(bar, print_cost):
    """callback(i, cost) for train(): cost is a float on record iterations only, so this never syncs."""

    def callback(i, cost):
        if bar is not None:
            bar.update(1)
        if cost is None:
            return
        if bar is not None:
            bar.set_postfix(cost=f"{cost:.6f}", refresh=False)
        if print_cost:
            line = "Cost after iteration %i: %f" % (i, cost)
            if bar is not None:
                bar.write(line, file=sys.stdout)
            else:
                print(line)
            sys.stdout.flush()

    return callback


def _run_summary(model, seconds):
    return {
        "learning_rate": model.learning_rate,
        "num_iterations": model.num_iterations,
        "iterations": model.iterations,
        "interrupted": model.interrupted,
        "backend": model.backend,
        "device": model.device,
        "dtype": model.dtype,
        "solver": model.solver,
        "n_classes": model.n_classes,
        "l2": model.l2,
        "l1": model.l1,
        "tol": model.tol,
        "converged": model.converged,
        "train_accuracy": model.train_accuracy,
        "test_accuracy": model.test_accuracy,
        "final_cost": model.final_cost,
        "cost_iterations": list(model.cost_iterations),
        "costs": list(model.costs),
        "seconds": round(seconds, 6),
    }


def _write_json(path, summary):
    from .io.atomic import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")


# --------------------------------------------------------------------------- train


def cmd_train(args):
    if args.backend != "dask":
        if args.scheduler:
            raise UserError("--scheduler needs --backend dask")
        return _train_command(args)
    with _backends.dask_scheduler(args.scheduler) as client:  # None: local threads
        if client is not None:
            print(f"Dask scheduler: {client.scheduler.address}", flush=True)
        return _train_command(args)


def _train_command(args):
    default_rate = DIGITS_LEARNING_RATE if args.train is None else COURSE_LEARNING_RATE
    rates = args.learning_rates or [args.learning_rate or default_rate]
    if args.test is not None and args.train is None:
        raise UserError("--test needs --train (without both, the embedded digits are used)")
    if args.l1 and args.solver in ("primal", "dual"):
        raise UserError(f"--solver {args.solver} cannot fit an L1 penalty: leave --solver auto (or prox-newton) "
                        "with --l1")
    if args.solver == "prox-newton" and args.learning_rates:
        raise UserError("--solver prox-newton does not use a learning rate: drop --learning-rates")
    if args.save and len(rates) > 1:
        raise UserError("--save writes one model; use --learning-rate instead of --learning-rates")
    outputs = [(f"--{option}", getattr(args, option)) for option in ("save", "plot", "json")]
    _check_paths([("--train", args.train), ("--test", args.test)], outputs)
    for option, path in outputs:
        if path:
            _check_output(path, option)
    if args.plot:
        _require("matplotlib", "--plot")
    xp, dev, dtype = _resolve_backend(args.backend, args.device, args.dtype)
    data = _load_training_data(args)
    if args.dtype is None and _backends.float_dtype_name(data.X) == "float32":
        dtype = _backends.floating_dtype(xp, dev, "float32")  # the dtype follows the file's float32 features
    X, Y = (_backends.asarray(a, xp, dev, dtype) for a in (data.X, data.Y))
    X_test = Y_test = None
    if data.X_test is not None:
        X_test, Y_test = (_backends.asarray(a, xp, dev, dtype) for a in (data.X_test, data.Y_test))
    n_x, m = data.X.shape
    shape = "x".join(map(str, data.image_shape)) + " images" if data.image_shape else f"{n_x} features"
    m_test = 0 if data.X_test is None else data.X_test.shape[1]
    print(f"Data: {data.description}: {m} training and {m_test} test examples of {shape}, "
          f"classes {data.classes}")
    where = "default device" if dev is None else str(dev)
    print(f"Training on {_backends.backend_name(xp)} ({where}, {_dtype_name(xp, dtype)}) for "
          f"{args.iterations} iterations, solver {args.solver}", flush=True)

    models, timings = [], []
    interrupted = None
    for rate in rates:
        if len(rates) > 1:
            print(f"learning rate is: {rate}", flush=True)
        bar = _progress_bar(args.iterations, args.quiet, f"lr={rate:g}" if len(rates) > 1 else None)
        start = time.perf_counter()
        try:
            model = _train(X, Y, X_test, Y_test, rate, xp, dev, dtype, args, bar, len(data.classes))
        except ValueError as exc:  # a lazy (Dask) file is checked for NaN only as training reads it
            nonfinite = re.fullmatch(r"(X|X_test) must hold only finite values; it contains NaN or infinity", str(exc))
            if nonfinite is None:
                raise
            path = args.train if nonfinite.group(1) == "X" else args.test
            raise DataError(f"{path}: {_x_key(path, args)!r} contains NaN or infinity") from None
        except KeyboardInterrupt as exc:
            model = getattr(exc, "model", None)
            if model is None:  # Ctrl-C outside the loop: nothing to keep
                raise
            interrupted = model
        finally:
            if bar is not None:
                bar.close()
        model.classes, model.image_shape, model.preprocessing = data.classes, data.image_shape, data.preprocessing
        models.append(model)
        timings.append(time.perf_counter() - start)
        if interrupted is not None:
            break
        if model.tol is not None:
            state = "converged" if model.converged else "did not converge (tol not met)"
            print(f"{state} after {model.iterations} iterations")
        print(f"train accuracy: {model.train_accuracy} %")
        if model.test_accuracy is not None:
            print(f"test accuracy: {model.test_accuracy} %")
        if len(rates) > 1:
            print("\n" + "-" * 55 + "\n")
        sys.stdout.flush()

    if interrupted is not None:
        print(f"xlogreg: interrupted after {interrupted.iterations} of {interrupted.num_iterations} "
              f"iterations", file=sys.stderr, flush=True)
    status = _write_outputs(args, data, models, timings, interrupted is not None)
    return EXIT_INTERRUPTED if interrupted is not None else status


def _x_key(path, args):
    """The key of the examples in the data file `path` (as the loaders find it)."""
    from .io.hdf5 import find_keys, open_h5

    with open_h5(path) as f:
        return find_keys(f, args.x_key, args.y_key, args.classes_key)[0]


def _train(X, Y, X_test, Y_test, rate, xp, dev, dtype, args, bar, n_classes):
    from .training import train

    with warnings.catch_warnings():
        # Overflow on the way to divergence is reported once, as TrainingDiverged, not as NumPy warnings.
        warnings.filterwarnings("ignore", message=r"(overflow|invalid value) encountered", category=RuntimeWarning)
        return train(X, Y, X_test, Y_test, num_iterations=args.iterations, learning_rate=rate,
                     backend=_backends.backend_name(xp), device=dev, dtype=dtype, solver=args.solver,
                     record_every=args.record_every, print_cost=False, l2=args.l2, l1=args.l1, tol=args.tol,
                     n_classes=n_classes, callback=_make_callback(bar, not args.quiet))


def _write_outputs(args, data, models, timings, interrupted):
    """--save, --plot, --json; a late write failure is reported and gives exit status 1."""
    status = EXIT_OK
    marked = " (marked interrupted)" if interrupted else ""
    outputs = []
    if args.save:
        outputs.append((args.save, lambda: models[-1].save(args.save), f"Saved the model{marked} to {args.save}"))
    if args.plot:
        from .plotting import plot_learning_curves

        outputs.append((args.plot, lambda: plot_learning_curves(models, args.plot),
                        f"Wrote the learning curve to {args.plot}"))
    if args.json:
        summary = {
            "xlogreg_version": __version__,
            "data": {
                "source": "embedded-digits" if args.train is None else "hdf5",
                "train": args.train, "test": args.test,
                "m_train": int(data.X.shape[1]),
                "m_test": None if data.X_test is None else int(data.X_test.shape[1]),
                "n_features": int(data.X.shape[0]),
                "image_shape": list(data.image_shape) if data.image_shape else None,
                "classes": data.classes,
                "preprocessing": data.preprocessing,
            },
            "interrupted": interrupted,
            "model_path": args.save,
            "plot_path": args.plot,
            "runs": [_run_summary(m, t) for m, t in zip(models, timings)],
        }
        outputs.append((args.json, lambda: _write_json(args.json, summary), f"Wrote the summary to {args.json}"))
    for path, write, message in outputs:
        try:
            write()
        except OSError as exc:
            reason = exc.strerror or str(exc)  # the library's errors already say "cannot write PATH: ..."
            _error(reason if reason.startswith("cannot write") else f"cannot write {path}: {reason}")
            status = EXIT_FAILURE
            continue
        print(message, file=sys.stderr if interrupted else sys.stdout, flush=True)
    return status


def _require(module, option):
    import importlib.util

    if importlib.util.find_spec(module) is None:
        package = {"PIL": "pillow"}.get(module, module)  # what pip calls it; "xlogreg[cli]" fails outside a checkout
        raise UserError(f"{option} needs {module}: pip install {package}")


# --------------------------------------------------------------------------- predict


def cmd_predict(args):
    import numpy as np

    from .io.pictures import data_to_X, load_images
    from .training import load_model

    if not args.images and args.data is None:
        raise UserError("give image files to classify and/or --data FILE.h5")
    if args.images:
        _require("PIL", "classifying image files")
    backend = device = None
    if args.backend is not None or args.device is not None or args.dtype is not None:
        xp, device, _ = _resolve_backend(args.backend, args.device, args.dtype)
        backend = _backends.backend_name(xp)
    try:
        model = load_model(args.model, backend=backend, device=device, dtype=args.dtype)
    except ValueError as exc:  # DataError, or a dtype the device lacks
        raise UserError(str(exc)) from None
    classes = model.classes or [str(k) for k in range(model.n_classes)]
    if args.images:
        X = load_images(args.images, model)
        proba = _backends.to_numpy(model.predict_proba(X))
        labels = _backends.to_numpy(model.predict(X))[0].astype(np.int64)
        for j, (path, label) in enumerate(zip(args.images, labels)):
            shown = 1 if model.n_classes == 2 else label  # two classes: the course's P(label 1)
            p = proba[0 if model.n_classes == 2 else label, j]
            print(f"{path}: {classes[label]} (P({classes[shown]}) = {p:.4f})")
    if args.data is not None:
        from .io import datasets, lazy
        from .training import _accuracy

        # Dask: out of core, the file is read chunk by chunk (twice: the finiteness check of
        # every entry point, then the prediction), never whole.
        load = lazy.open_lazy_images if backend == "dask" else datasets.load_h5
        x, y, _ = load(args.data, x_key=args.x_key, y_key=args.y_key)
        X = data_to_X(x, model, args.data)
        y = _backends.to_numpy(y).reshape(-1).astype(np.int64)
        pred = _backends.to_numpy(model.predict(X))[0].astype(np.int64)
        accuracy = _accuracy(pred.reshape(1, -1), y.reshape(1, -1))
        print(f"accuracy: {accuracy} % ({y.size} examples in {args.data})")
        print("confusion matrix (rows: true class, columns: predicted class):")
        width = max(8, *(len(c) for c in classes)) + 2
        print(" " * width + "".join(f"{c:>{width}}" for c in classes))
        for true, name in enumerate(classes):
            counts = [int(np.sum((y == true) & (pred == guess))) for guess in range(len(classes))]
            print(f"{name:<{width}}" + "".join(f"{n:>{width}}" for n in counts))
    return EXIT_OK


# --------------------------------------------------------------------------- pictures


def cmd_pictures(args):
    _require("PIL", "writing pictures")
    from .io.pictures import write_pictures

    try:
        written = write_pictures(args.data, args.indices, args.out_dir, prefix=args.prefix, size=args.size,
                                 x_key=args.x_key, y_key=args.y_key)
    except (ValueError, OSError) as exc:  # DataError is a ValueError
        raise UserError(str(exc)) from None
    for (out, label), index in zip(written, args.indices):
        print(f"{out}: example {index} of {args.data} (label: {label})")
    return EXIT_OK


# --------------------------------------------------------------------------- backends


def cmd_backends(args):
    from ._backends import available_backends

    report = available_backends()
    width = max(len(name) for name in report)
    print(f"{'backend':<{width}}  usable  details")
    for name, info in report.items():
        if info.available:
            details = f"{info.version}; devices: {', '.join(info.devices)}"
        else:
            details = f"why not: {info.reason}"
        print(f"{name:<{width}}  {'yes' if info.available else 'no':<6}  {details}")
    return EXIT_OK


# --------------------------------------------------------------------------- entry point


def main(argv=None):
    """Run the command line; returns the exit status (see the module docstring)."""
    from ._backends import BackendError
    from .solvers import TrainingDiverged

    try:
        parser = build_parser()
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        if args.command is None:
            parser.error("a COMMAND is required: train, predict, pictures or backends")
        return args.func(args)
    except (UserError, DataError, BackendError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except TrainingDiverged as exc:
        _error(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("\nxlogreg: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `xlogreg predict ... | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
