#!/usr/bin/env bash
# Gather, on a machine with a network, what the GPU run needs and the GPU host lacks, into
# .whl/ at the repository root (ignored by git; it travels with the checkout):
#
#   .whl/*.whl   wheels for CPython 3.12, manylinux x86-64: array-api-compat, array-api-strict,
#                dask[array] and distributed, with every dependency they pull in except NumPy
#                (the GPU host's own NumPy is the one its CuPy, torch and numba were built for)
#   .whl/data/   the course data (train_catvnoncat.h5, test_catvnoncat.h5, SHA256SUMS), copied
#                from $XLOGREG_DATA_DIR or ../shared/datasets, which does not travel
#
#   scripts/gather_wheels.sh            # into .whl/ (emptied first)
#   PYTHON=python3.12 scripts/gather_wheels.sh
#
# Then, on the GPU host, from the repository root (the one-line command, also in
# scripts/gpu_report.py and docs/development.md, "Measuring on a GPU"):
#
#   python3 -m pip install -q --no-index --find-links .whl --prefix /tmp/xlr-deps array-api-compat array-api-strict "dask[array]" distributed && python3 scripts/gpu_report.py "$OUT/gpu" --deps /tmp/xlr-deps
#
# With --prefix (unlike --target, which ignores what is installed and would want a NumPy
# wheel too) pip installs only what the host lacks or has too old a version of; --deps puts
# /tmp/xlr-deps/lib/python3.12/site-packages on sys.path and PYTHONPATH.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.whl
PYTHON=${PYTHON:-python3}
PACKAGES=(array-api-compat array-api-strict "dask[array]" distributed)

rm -rf "$DEST"
mkdir -p "$DEST/data"
"$PYTHON" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    --python-version 3.12 --implementation cp --abi cp312 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    -d "$DEST" "${PACKAGES[@]}"
# The host has NumPy (2.x), the one its CuPy, torch and numba were built for: never a second one.
rm -f "$DEST"/numpy-*.whl

DATA=${XLOGREG_DATA_DIR:-../shared/datasets}
for f in train_catvnoncat.h5 test_catvnoncat.h5 SHA256SUMS; do
    if [ -f "$DATA/$f" ]; then
        cp "$DATA/$f" "$DEST/data/"
    else
        echo "gather_wheels: $DATA/$f not found: the GPU run will look for the course data elsewhere" >&2
    fi
done
chmod -R u+w "$DEST/data"

ls -1 "$DEST"/*.whl | sed 's|.*/||'
total=$(du -sk "$DEST" | cut -f1)
echo "gather_wheels: $(ls "$DEST"/*.whl | wc -l) wheels and the course data in $DEST/: ${total} KiB (the checkout carried to the GPU host must stay under 64 MiB)"
if [ "$total" -gt $((32 * 1024)) ]; then
    echo "gather_wheels: error: $DEST/ holds ${total} KiB, more than 32 MiB; expected about 10 MiB" >&2
    exit 1
fi
