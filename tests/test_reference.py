"""The plain-NumPy references of tests/_reference.py: independent of xlogreg, and right.

They are checked here against the course's published numbers (the propagate and
optimize examples of the assignment), so that the tests comparing xlogreg with
them compare it with something known to be right.
"""

import ast
import pathlib

import numpy as np
import pytest

import _reference as ref

W, B = np.array([[1.0], [2.0]]), 2.0
X = np.array([[1.0, 2.0, -1.0], [3.0, 4.0, -3.2]])
Y = np.array([[1.0, 0.0, 1.0]])


def test_reference_does_not_import_xlogreg():
    tree = ast.parse(pathlib.Path(ref.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.split(".")[0] == "xlogreg" for name in imported), imported


def test_propagate_gives_the_course_values():
    dw, db, cost = ref.propagate(W, B, X, Y)
    np.testing.assert_allclose(dw, [[0.99845601], [2.39507239]], rtol=1e-8)
    assert db == pytest.approx(0.00145557813678, rel=1e-11)
    assert cost == pytest.approx(5.801545319394553, rel=1e-14)


def test_course_loop_gives_the_course_values():
    run = ref.course_loop(X, Y, 100, 0.009, w=W, b=B)
    np.testing.assert_allclose(run.w, [[0.19033591], [0.12259159]], rtol=1e-7)
    assert run.b == pytest.approx(1.92535983008, rel=1e-11)
    np.testing.assert_allclose(run.dw, [[0.67752042], [1.41625495]], rtol=1e-8)
    assert run.db == pytest.approx(0.219194504541, rel=1e-11)
    assert run.costs == [pytest.approx(5.801545319394553, rel=1e-14)] and run.cost_iterations == [0]


def test_predict_and_accuracy_by_hand():
    w, b = np.array([[0.1124579], [0.23106775]]), -0.3
    X = np.array([[1.0, -1.1, -3.2], [1.2, 2.0, 0.1]])
    np.testing.assert_array_equal(ref.predict(w, b, X), [[1.0, 1.0, 0.0]])  # the course's example
    np.testing.assert_array_equal(ref.predict(np.zeros((2, 1)), 0.0, X), [[0.0, 0.0, 0.0]])  # 0.5 is not > 0.5
    assert ref.accuracy([[1.0, 1.0, 0.0]], [[1, 0, 0]]) == pytest.approx(200 / 3)
