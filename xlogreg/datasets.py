"""The data-loading names as they were first published (``from xlogreg.datasets import open_lazy``).

The code lives in :mod:`xlogreg.io` (:mod:`~xlogreg.io.datasets`,
:mod:`~xlogreg.io.lazy`, :mod:`~xlogreg.io.hdf5`); this module keeps the
documented imports working and adds nothing.
"""

from __future__ import annotations

from .io.datasets import decode_classes, flatten_images, load_dataset, load_digits, load_h5
from .io.hdf5 import DataError, find_keys
from .io.lazy import flatten_lazy, open_lazy, open_lazy_images

__all__ = ["DataError", "load_dataset", "load_h5", "flatten_images", "load_digits", "find_keys",
           "open_lazy", "open_lazy_images", "flatten_lazy", "decode_classes"]
