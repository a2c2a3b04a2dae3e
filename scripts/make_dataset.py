"""Write a synthetic course-format HDF5 file: random but learnable, seeded, of any size.

The file has the layout of the course's ``train_catvnoncat.h5``:

* ``{prefix}_set_x``: (m, height, width, channels) uint8, one image per row;
* ``{prefix}_set_y``: (m,) int64 labels 0 / 1;
* ``list_classes``: ``[b'negative', b'positive']``.

Each image is grey noise plus a fixed pattern (drawn once from the seed) times
a per-example strength whose sign is the label, blurred by per-example noise:
a linear classifier learns it, but not perfectly (about 84 % is the best
possible accuracy with the defaults). Examples are generated in fixed blocks of
``BLOCK`` examples, each from its own seeded generator, so the content depends
only on the seed and the example index, never on the write chunk size, and the
file is written chunk by chunk: making a file of many GB needs only the memory
of one chunk.

Usage::

    python scripts/make_dataset.py big.h5 --examples 250000 --size 64
    python scripts/make_dataset.py small.h5 --examples 2000 --size 16 --channels 1 --seed 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import h5py
import numpy as np

#: Examples per generator block: the unit of randomness (independent of chunking).
BLOCK = 256

#: Half-width of the uniform pixel noise, in grey levels.
NOISE = 60
#: Pattern strength, in grey levels, for a per-example strength of 1.
AMPLITUDE = 8.0
#: Standard deviation of the per-example strength around +1 / -1.
SPREAD = 1.0


def pattern(shape, seed):
    """The fixed +-1 pattern of the positive class, shape (height, width, channels)."""
    rng = np.random.default_rng([seed, 0xC0FFEE])
    return np.where(rng.random(shape) < 0.5, -1, 1).astype(np.int16)


def make_block(seed, index, count, shape, template):
    """Examples ``index * BLOCK ... + count`` of the data set: (images uint8, labels int64)."""
    rng = np.random.default_rng([seed, index])
    labels = rng.integers(0, 2, size=count, dtype=np.int64)
    strength = 2.0 * labels - 1.0 + SPREAD * rng.standard_normal(count)
    # In whole grey levels, so the image is built in int16 without float temporaries.
    level = np.rint(AMPLITUDE * strength).astype(np.int16)
    images = rng.integers(128 - NOISE, 128 + NOISE + 1, size=(count, *shape), dtype=np.int16)
    images += level[:, None, None, None] * template
    np.clip(images, 0, 255, out=images)
    return images.astype(np.uint8), labels


def write(path, examples, shape, *, seed=0, prefix="train", chunk_examples=None, verbose=False):
    """Write the data set to `path` (atomically: a temporary file renamed at the end).

    Parameters
    ----------
    path : str or path
    examples : int
        Number of examples m.
    shape : tuple (height, width, channels)
    seed : int
    prefix : str
        Keys are ``{prefix}_set_x`` and ``{prefix}_set_y``.
    chunk_examples : int, optional
        Examples written per step (a multiple of BLOCK is used); by default
        about 64 MiB of images per step.
    """
    height, width, channels = shape
    per_example = height * width * channels
    if chunk_examples is None:
        chunk_examples = max(1, (64 * 2**20) // per_example)
    chunk_examples = max(BLOCK, chunk_examples // BLOCK * BLOCK)
    template = pattern(shape, seed)
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    start = time.perf_counter()
    try:
        with h5py.File(tmp, "w") as f:
            x = f.create_dataset(f"{prefix}_set_x", shape=(examples, *shape), dtype=np.uint8)
            y = f.create_dataset(f"{prefix}_set_y", shape=(examples,), dtype=np.int64)
            f.create_dataset("list_classes", data=np.array([b"negative", b"positive"]))
            f.attrs["generator"] = "xlogreg scripts/make_dataset.py"
            f.attrs["seed"] = seed
            for lo in range(0, examples, chunk_examples):
                hi = min(examples, lo + chunk_examples)
                blocks = [make_block(seed, b, min(BLOCK, hi - b * BLOCK), shape, template)
                          for b in range(lo // BLOCK, (hi + BLOCK - 1) // BLOCK)]
                x[lo:hi] = np.concatenate([b[0] for b in blocks])
                y[lo:hi] = np.concatenate([b[1] for b in blocks])
                if verbose:
                    done = hi * per_example / 2**30
                    print(f"\r{hi}/{examples} examples ({done:.2f} GiB, {time.perf_counter() - start:.0f} s)",
                          end="", file=sys.stderr, flush=True)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    if verbose:
        print(file=sys.stderr)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="HDF5 file to write (replaced if it exists)")
    parser.add_argument("--examples", "-m", type=int, required=True, help="number of examples m")
    parser.add_argument("--size", type=int, nargs="+", default=[64], metavar="PIXELS",
                        help="image height [width] in pixels (default 64 x 64)")
    parser.add_argument("--channels", type=int, default=3, help="colour channels (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prefix", default="train", help="key prefix: train gives train_set_x (default)")
    parser.add_argument("--chunk-examples", type=int, default=None,
                        help="examples generated and written per step (default: about 64 MiB)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.examples < 1:
        parser.error(f"--examples must be >= 1; got {args.examples}")
    if len(args.size) not in (1, 2) or min(args.size) < 1 or args.channels < 1:
        parser.error("--size takes one or two positive integers and --channels a positive integer")
    height, width = (args.size * 2)[:2]
    shape = (height, width, args.channels)
    write(args.path, args.examples, shape, seed=args.seed, prefix=args.prefix,
          chunk_examples=args.chunk_examples, verbose=not args.quiet)
    size = args.examples * height * width * args.channels
    if not args.quiet:
        print(f"wrote {args.path}: {args.examples} images of {shape}, {size / 2**30:.2f} GiB of pixels")


if __name__ == "__main__":
    main()
