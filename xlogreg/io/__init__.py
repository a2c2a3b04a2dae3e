"""File formats, apart from the maths: course data files, pictures, model files.

================================  ===========================================================
module                            what it reads or writes
================================  ===========================================================
:mod:`xlogreg.io.hdf5`            how every HDF5 file is opened and read as untrusted input;
                                  :class:`~xlogreg.DataError`
:mod:`xlogreg.io.datasets`        course-format files (``load_dataset``, ``load_h5``),
                                  ``flatten_images``, the embedded digits (``load_digits``)
:mod:`xlogreg.io.lazy`            the same files opened lazily on Dask (``open_lazy``)
:mod:`xlogreg.io.pictures`        your pictures as X (``load_images``, ``data_to_X``); a data
                                  file's examples as PNGs (``write_pictures``)
:mod:`xlogreg.io.model_file`      the model-file format (``save_model``, ``read_model_file``)
:mod:`xlogreg.io.atomic`          atomic writes (``atomic_path``)
================================  ===========================================================

NumPy, h5py and Pillow live here, at the edge; what comes out is handed to the
Array API code. This package imports nothing above it (not the
:class:`~xlogreg.Model`: :func:`xlogreg.load_model`, which builds one, is in
:mod:`xlogreg.training`).

Examples
--------
Classify your own pictures with a trained model (the model knows its image
shape and scaling)::

    import xlogreg
    model = xlogreg.load_model("cat.h5")
    X = xlogreg.io.load_images(["my_cat.jpg", "my_dog.png"], model)
    model.predict_proba(X)
"""

from __future__ import annotations

from .datasets import flatten_images, load_dataset, load_digits, load_h5
from .hdf5 import DataError
from .lazy import open_lazy
from .model_file import save_model
from .pictures import data_to_X, load_images, write_pictures

__all__ = ["DataError", "data_to_X", "flatten_images", "load_dataset", "load_digits", "load_h5", "load_images",
           "open_lazy", "save_model", "write_pictures"]
