"""P(cat) of the README's cat model for chosen course test images, read from the HDF5 file.

    python benchmarks/cat_test_images.py                          # test images 1 and 6
    python benchmarks/cat_test_images.py --indices 1 6 --json benchmarks/results/cat_test_images.json

The model is the one the README trains (``xlogreg train --train train_catvnoncat.h5
--learning-rate 0.005 --iterations 2000``): ``xlogreg.train`` on the course data, as
the course prepares it (X = pixels / 255). Each test image is taken straight from
``test_catvnoncat.h5`` at its index (0-based, as ``test_set_x_orig[index]`` in the
course), so the figures need nothing outside the repository and the shared data: a
PNG written from the same example (``xlogreg pictures``) holds the same 64x64 pixels
and gives the same probability. Not a benchmark: nothing is timed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import shlex
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import xlogreg  # noqa: E402
from xlogreg import flatten_images, load_dataset  # noqa: E402

DEFAULT_DATA_DIR = os.environ.get("XLOGREG_DATA_DIR", str(ROOT.parent / "shared" / "datasets"))


def probabilities(data_dir, indices, num_iterations=2000, learning_rate=0.005):
    """Train the README's model on the course data; P(cat) and the label of each test index."""
    data_dir = pathlib.Path(data_dir)
    train_x, train_y, test_x, test_y, classes = load_dataset(data_dir / "train_catvnoncat.h5",
                                                             data_dir / "test_catvnoncat.h5")
    model = xlogreg.train(flatten_images(train_x), train_y, flatten_images(test_x), test_y,
                          num_iterations=num_iterations, learning_rate=learning_rate)
    rows = []
    for index in indices:
        if not 0 <= index < test_x.shape[0]:
            raise SystemExit(f"cat_test_images: error: index {index} is out of range; the test set has "
                             f"{test_x.shape[0]} images (0 to {test_x.shape[0] - 1})")
        p = float(model.predict_proba(flatten_images(test_x[index:index + 1]))[0, 0])
        label = classes[int(test_y[0, index])]
        rows.append({"index": index, "label": label.decode() if isinstance(label, bytes) else str(label),
                     "p_cat": p, "predicted": "cat" if p > 0.5 else "non-cat"})
    return model, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                        help="folder of train_catvnoncat.h5 and test_catvnoncat.h5 (default: $XLOGREG_DATA_DIR "
                             "or ../shared/datasets)")
    parser.add_argument("--indices", type=int, nargs="+", default=[1, 6], help="test images (0-based; default 1 6)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    model, rows = probabilities(args.data_dir, args.indices)
    for row in rows:
        print(f"test image {row['index']} (label: {row['label']}): {row['predicted']} (P(cat) = {row['p_cat']:.4f})")
    print(f"train accuracy: {model.train_accuracy} %\ntest accuracy: {model.test_accuracy} %")
    if args.json:
        command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT), *sys.argv[1:]])
        info = {
            "what": "P(cat) of the README's cat model (xlogreg.train, 2000 iterations at 0.005, solver "
                    f"{model.solver}) for course test images read from test_catvnoncat.h5",
            "command": command,
            "date": datetime.date.today().isoformat(),
            "versions": {"python": platform.python_version(), "xlogreg": xlogreg.__version__,
                         "numpy": np.__version__},
            "train_accuracy": model.train_accuracy, "test_accuracy": model.test_accuracy,
            "final_cost": model.costs[-1], "images": rows,
        }
        pathlib.Path(args.json).write_text(json.dumps(info, indent=2) + "\n")


if __name__ == "__main__":
    main()
