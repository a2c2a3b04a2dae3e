"""The course's own checks of week 2 (Python basics with NumPy; logistic regression with a neural
network mindset), restated: the same calls, expected values and type checks, on xlogreg's names with
NumPy inputs, so a course notebook's calls and checks work unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest

import xlogreg
from xlogreg import (L1, L2, basic_sigmoid, image2vector, initialize_with_zeros, model, normalizeRows, optimize,
                     predict, propagate, sigmoid, sigmoid_derivative, softmax)


def test_basic_sigmoid_takes_and_returns_a_python_number():
    assert basic_sigmoid(1) == pytest.approx(0.7310585786300049, abs=1e-15)
    assert isinstance(basic_sigmoid(3), float)
    assert basic_sigmoid(-800.0) == pytest.approx(math.exp(-800.0)) and basic_sigmoid(800.0) == 1.0
    with pytest.raises(TypeError, match="xlogreg.sigmoid for arrays"):
        basic_sigmoid(np.array([1.0, 2.0]))


def test_sigmoid_arrays_and_scalars():
    out = sigmoid(np.array([0, 2]))
    assert type(out) is np.ndarray
    np.testing.assert_allclose(out, [0.5, 0.88079708], atol=1e-8)
    one = sigmoid(1)
    assert np.ndim(one) == 0 and not isinstance(one, np.ndarray)  # a NumPy scalar, as np.exp gives
    assert one == pytest.approx(0.7310585786300049, abs=1e-15)
    np.testing.assert_allclose(sigmoid(np.array([1, 2, 3])), [0.73105858, 0.88079708, 0.95257413], atol=1e-8)
    np.testing.assert_allclose(sigmoid_derivative(np.array([1, 2, 3])), [0.19661193, 0.10499359, 0.04517666],
                               atol=1e-8)
    assert sigmoid_derivative(0) == pytest.approx(0.25, abs=1e-16)


def test_python_basics_names():
    image = np.arange(18, dtype=float).reshape(3, 3, 2)
    assert image2vector(image).shape == (18, 1)
    np.testing.assert_allclose(normalizeRows(np.array([[0.0, 3.0, 4.0], [1.0, 6.0, 4.0]])),
                               [[0.0, 0.6, 0.8], [0.13736056, 0.82416338, 0.54944226]], atol=1e-8)
    np.testing.assert_allclose(softmax(np.array([[9.0, 2, 5, 0, 0], [7, 5, 0, 0, 0]])),
                               [[9.80897665e-01, 8.94462891e-04, 1.79657674e-02, 1.21052389e-04, 1.21052389e-04],
                                [8.78679856e-01, 1.18916387e-01, 8.01252314e-04, 8.01252314e-04, 8.01252314e-04]],
                               rtol=1e-8)
    yhat, y = np.array([0.9, 0.2, 0.1, 0.4, 0.9]), np.array([1, 0, 0, 1, 1])
    assert L1(yhat, y) == pytest.approx(1.1) and L2(yhat, y) == pytest.approx(0.43)
    assert L1 is xlogreg.l1 and L2 is xlogreg.l2


def test_initialize_with_zeros():
    for dim in (3, 4):
        w, b = initialize_with_zeros(dim)
        assert type(b) is float and b == 0.0
        assert type(w) is np.ndarray and w.shape == (dim, 1) and not w.any()


def test_propagate():
    w, b = np.array([[1.0], [2.0], [-1]]), 2.5
    X = np.array([[1.0, 2.0, -1.0, 0], [3.0, 4.0, -3.2, 1], [3.0, 4.0, -3.2, -3.5]])
    Y = np.array([[1, 1, 0, 0]])
    grads, cost = propagate(w, b, X, Y)
    assert type(grads["dw"]) is np.ndarray and grads["dw"].shape == w.shape
    np.testing.assert_allclose(grads["dw"], [[-0.03909333], [0.12501464], [-0.99960809]], atol=1e-8)
    assert np.allclose(grads["db"], 0.288106326429569)
    assert np.allclose(cost, 2.0424567983978403)


def test_optimize():
    w, b, X, Y = np.array([[1.0], [2.0]]), 2.0, np.array([[1.0, 2.0, -1.0], [3.0, 4.0, -3.2]]), np.array([[1, 0, 1]])
    params, grads, costs = optimize(w, b, X, Y, num_iterations=101, learning_rate=0.1, print_cost=False)
    assert type(costs) is list and len(costs) == 2
    np.testing.assert_allclose(costs, [5.80154532, 0.31057104], atol=1e-8)
    assert type(grads["dw"]) is np.ndarray and grads["dw"].shape == w.shape
    np.testing.assert_allclose(grads["dw"], [[0.06188603], [-0.01407361]], atol=1e-8)
    assert np.allclose(grads["db"], -0.04709353)
    assert type(params["w"]) is np.ndarray and params["w"].shape == w.shape
    np.testing.assert_allclose(params["w"], [[-0.70916784], [-0.42390859]], atol=1e-8)
    assert np.allclose(params["b"], 2.26891346)


def test_predict():
    w, b = np.array([[0.3], [0.5], [-0.2]]), -0.33333
    X = np.array([[1.0, -0.3, 1.5], [2, 0, 1], [0, -1.5, 2]])
    pred = predict(w, b, X)
    assert type(pred) is np.ndarray and pred.shape == (1, 3)
    np.testing.assert_array_equal(pred, [[1.0, 0.0, 1.0]])


def test_model(capsys):
    np.random.seed(0)
    Y, X = np.array([[1, 0, 0, 1, 0, 0, 1]]), np.random.randn(4, 7)
    x_test, y_test = np.random.randn(4, 3), np.array([[0, 1, 0]])
    d = model(X, Y, x_test, y_test, num_iterations=50, learning_rate=0.01)
    assert type(d["costs"]) is list and len(d["costs"]) == 1
    np.testing.assert_allclose(d["costs"], [0.69314718], atol=1e-8)
    assert type(d["w"]) is np.ndarray and d["w"].shape == (4, 1)
    np.testing.assert_allclose(d["w"], [[0.08639757], [-0.08231268], [-0.11798927], [0.12866053]], atol=1e-8)
    assert np.allclose(d["b"], -0.03983236094816321)
    assert type(d["Y_prediction_test"]) is np.ndarray and d["Y_prediction_test"].shape == (1, 3)
    np.testing.assert_array_equal(d["Y_prediction_test"], [[1.0, 1.0, 0.0]])
    np.testing.assert_array_equal(d["Y_prediction_train"], [[1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0]])
    assert "train accuracy" in capsys.readouterr().out
