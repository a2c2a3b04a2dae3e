"""The model-file names as they were first published (``xlogreg.model_io.load_images``, ...).

The code lives in :mod:`xlogreg.io` (:mod:`~xlogreg.io.model_file`,
:mod:`~xlogreg.io.pictures`, :mod:`~xlogreg.io.atomic`) and, for
:func:`load_model`, beside the :class:`~xlogreg.Model` it builds
(:mod:`xlogreg.training`); this module keeps the documented imports working
and adds nothing.
"""

from __future__ import annotations

from .io.atomic import STALE_SECONDS, atomic_path
from .io.model_file import FORMAT, FORMAT_VERSION, checksum, save_model
from .io.pictures import data_to_X, load_images
from .training import load_model

__all__ = ["save_model", "load_model", "atomic_path", "checksum", "load_images", "data_to_X", "FORMAT",
           "FORMAT_VERSION", "STALE_SECONDS"]
