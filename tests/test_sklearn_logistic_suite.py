"""scikit-learn's own tests of LogisticRegression and LogisticRegressionCV, run against xlogreg's.

The test file shipped inside the installed scikit-learn wheel
(``sklearn/linear_model/tests/test_logistic.py``) is loaded afresh, under a
private name, while ``sklearn.linear_model.LogisticRegression`` and
``sklearn.linear_model.LogisticRegressionCV`` are xlogreg's (both restored
right after); so every ``LogisticRegression`` and ``LogisticRegressionCV`` of
that file, parametrised classes included, is xlogreg's, and scikit-learn's
parameters reach them unchanged. One loading serves both classes: a test that
builds either is about xlogreg. Where a test compares the two classes (the CV
refit against a single fit at the chosen C, ``coefs_paths_`` against single
fits on the folds, ``n_iter_`` shapes of both), it now compares xlogreg with
xlogreg: it checks that xlogreg's search agrees with xlogreg's single fit,
not with scikit-learn's numbers (those comparisons live in
``tests/test_estimator.py`` and ``tests/test_estimator_cv.py``, against
scikit-learn's fitted optimum). Its test functions are collected here, with
its module marks and its ``global_random_seed`` (42, or
``SKLEARN_TESTS_GLOBAL_RANDOM_SEED``). Warnings follow scikit-learn's own CI
(``SKLEARN_WARNINGS_AS_ERRORS=1``: its list of warnings that are errors), not
this repository's "every warning is an error", so that a test fails here only
where it would fail for scikit-learn's estimator under scikit-learn's rules.

Each collected test is one of:

* **run**: it must pass (or skip for its own reason, as in scikit-learn);
* **not applicable**, listed in :data:`NOT_APPLICABLE` (test id pattern ->
  reason): it exercises what xlogreg does not support (liblinear / sag /
  saga, L-BFGS inside LogisticRegressionCV, metadata routing of fit and score
  parameters, scikit-learn's private helpers, deprecated parameters and
  transition warnings xlogreg never had, callbacks). It runs as a strict
  ``xfail``: the day it passes, the run fails, and the entry must go (the
  list shrinks as features land);
* **not about xlogreg** (skipped, reason given): a test, or a parametrised
  case, that builds neither of xlogreg's classes (the path functions, other
  estimators).

Run it alone with ``python -m pytest tests/test_sklearn_logistic_suite.py -ra``;
its counts are recorded in the README's scikit-learn section.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys

import pytest

sklearn = pytest.importorskip("sklearn")
import sklearn.linear_model  # noqa: E402
from sklearn.base import BaseEstimator  # noqa: E402
from sklearn.utils._testing import get_pytest_filterwarning_lines  # noqa: E402

import xlogreg  # noqa: E402

SUITE = "sklearn.linear_model.tests.test_logistic"


#: The classes of ``sklearn.linear_model`` that are xlogreg's while the suite loads.
SWAPPED = ("LogisticRegression", "LogisticRegressionCV")


def _load_suite():
    """scikit-learn's test module, loaded afresh with xlogreg's classes (:data:`SWAPPED`) in the place of its own."""
    spec = importlib.util.find_spec(SUITE)
    if spec is None or spec.origin is None:
        pytest.skip(f"{SUITE} is not installed with scikit-learn {sklearn.__version__}", allow_module_level=True)
    name = "_xlogreg_sklearn_test_logistic"
    module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(name, spec.origin))
    theirs = {cls: getattr(sklearn.linear_model, cls) for cls in SWAPPED}
    try:
        for cls in SWAPPED:
            setattr(sklearn.linear_model, cls, getattr(xlogreg, cls))
        sys.modules[name] = module
        module.__spec__.loader.exec_module(module)
    finally:
        for cls, original in theirs.items():
            setattr(sklearn.linear_model, cls, original)
    for cls in SWAPPED:
        assert getattr(module, cls) is getattr(xlogreg, cls), cls
    return module


_suite = _load_suite()
SUITE_FILE = _suite.__file__

# The file's own module marks, as in scikit-learn (pytest applies a module's filterwarnings marks after,
# so above, a test's own).
pytestmark = _suite.pytestmark if isinstance(_suite.pytestmark, list) else [_suite.pytestmark]
#: scikit-learn's CI warnings policy (its ini lines under SKLEARN_WARNINGS_AS_ERRORS=1), in the place of this
#: repository's "error": put first among each test's marks, so that the test's own filters override it.
WARNINGS_POLICY = [pytest.mark.filterwarnings("default").mark,
                   *(pytest.mark.filterwarnings(line).mark for line in get_pytest_filterwarning_lines())]

TESTS = {name: f for name, f in vars(_suite).items() if name.startswith("test_") and inspect.isfunction(f)}


def _listed(mark):
    """A parametrize mark whose values are a generator (pytest deprecates that) with them as a list."""
    if mark.name != "parametrize" or len(mark.args) < 2 or isinstance(mark.args[1], (list, tuple)):
        return mark
    return pytest.mark.parametrize(mark.args[0], list(mark.args[1]), *mark.args[2:], **mark.kwargs).mark


for _function in TESTS.values():  # functions of the private copy of the module: scikit-learn's own untouched
    _function.pytestmark = [*WARNINGS_POLICY, *(_listed(mark) for mark in getattr(_function, "pytestmark", []))]
globals().update(TESTS)


@pytest.fixture(params=[int(s) for s in os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED", "42").split(",")])
def global_random_seed(request):
    """scikit-learn's fixture (its conftest.py is not loaded here): the seed 42 by default."""
    return request.param


#: Tests (patterns over the test's name with its parameters: ``*`` is any text, brackets are literal) that exercise what xlogreg does not
#: support yet, and why. Each runs as a strict xfail: remove its entry when it starts passing.
_SOLVERS_ALL = "compares with liblinear, sag or saga, which xlogreg does not have"
_L1 = ("L1 or elastic net fitted by saga or liblinear, which xlogreg does not have (its L1 solver is "
       "prox-newton; xlogreg's L1 fits are compared with scikit-learn's in tests/test_estimator_l1.py)")
_LIBLINEAR = "liblinear's own behaviour (xlogreg has no liblinear)"
_CV_SAGA = "LogisticRegressionCV(solver='saga'), which xlogreg does not have"
_DEPRECATED = ("a parameter or default scikit-learn 1.8 / 1.9 deprecates, with its FutureWarning; xlogreg's "
               "LogisticRegressionCV never had it (l1_ratios=None, its default, is the L2 penalty; scoring=None "
               "is accuracy; use_legacy_attributes=True is the default, without a warning)")
NOT_APPLICABLE = {
    # whole tests
    "test_check_solver_option[*]": "checks liblinear's messages first",
    "test_consistency_path[*]": _SOLVERS_ALL,
    "test_logistic_cv[*]": "compares with liblinear",
    "test_logistic_cv_multinomial_score[*]": "passes LogisticRegression().get_params() to scikit-learn's private "
                                             "_log_reg_scoring_path, which knows scikit-learn's parameters only",
    "test_logistic_regression_solvers[*]": _SOLVERS_ALL,
    "test_logistic_regression_solvers_multiclass[*]": _SOLVERS_ALL,
    "test_logistic_regression_solvers_multiclass_unpenalized[*]": _SOLVERS_ALL,
    "test_logistic_regression_class_weights[*]": _SOLVERS_ALL,
    "test_logistic_regression_cv_refit[*]": "fits both classes with solver='saga', which xlogreg does not have",
    "test_logreg_l1[*]": _L1,
    "test_logreg_predict_proba_multinomial[*]": "calls _predict_proba_lr, a private method of scikit-learn's "
                                                "LinearClassifierMixin",
    "test_sample_and_class_weight_equivalence_liblinear[*]": _LIBLINEAR,
    "test_logisticregression_liblinear_sample_weight[*]": _LIBLINEAR,
    "test_liblinear_*": _LIBLINEAR,
    "test_saga_vs_liblinear[*]": _L1,
    "test_warm_start_converge_LR[*]": _SOLVERS_ALL,
    "test_elastic_net_*": _L1,
    "test_LogisticRegression_elastic_net_objective[*]": _L1,
    "test_LogisticRegressionCV_GridSearchCV_elastic_net[*]": "LogisticRegressionCV, and GridSearchCV over "
                                                             "LogisticRegression, with solver='saga', which "
                                                             "xlogreg does not have",
    "test_scores_attribute_layout_elasticnet": _CV_SAGA + " (and LogisticRegression with it)",
    "test_l1_ratio_non_elasticnet": _L1 + " (the penalty warnings are checked on a saga fit)",
    "test_lr_penalty_l1ratio_incompatible[*]": _L1 + " (the penalty warnings are checked on a saga fit)",
    "test_newton_cholesky_fallback_to_lbfgs": "scikit-learn's newton-cholesky falling back to its L-BFGS, with "
                                              "L-BFGS's warning (xlogreg's newton-cholesky has no such fallback)",
    "test_logistic_regression_callback_*": "scikit-learn's callback API (set_callbacks), which xlogreg does not "
                                           "implement",
    # LogisticRegressionCV
    "test_elasticnet_l1_ratio_err_helpful[LogisticRegressionCV-*]": "penalty='elasticnet' (deprecated in "
                                                                   "scikit-learn 1.8), which xlogreg's "
                                                                   "LogisticRegressionCV never had: it takes "
                                                                   "l1_ratios",
    "test_penalty_deprecated[LogisticRegressionCV]": _DEPRECATED,
    "test_logisticregressioncv_warns_with_use_legacy_attributes": _DEPRECATED,
    "test_l1_ratio_None_deprecated": _DEPRECATED,
    "test_lr_scoring_warns": _DEPRECATED,
    "test_get_default_scorer": "calls _get_scorer, a private method of scikit-learn's LogisticRegressionCV",
    "test_multinomial_cv_iris[*]": "loops over LogisticRegressionCV with solver='lbfgs', 'sag' and 'saga'; "
                                   + _CV_SAGA,
    "test_logistic_regressioncv_class_weights[*]": "compares its lbfgs reference with sag and saga: " + _CV_SAGA,
    "test_LogisticRegressionCV_no_refit[*]": _CV_SAGA,
    "test_LogisticRegressionCV_elasticnet_attribute_shapes[*]": _CV_SAGA,
    "test_lr_cv_scores_differ_when_sample_weight_is_requested[*]": "metadata routing: scikit-learn gives the "
                                                                   "scorer sample_weight only where it is "
                                                                   "requested (set_score_request); xlogreg always "
                                                                   "weights the held-out scores by it",
    "test_passing_params_without_enabling_metadata_routing": "fit(**params) and score(**params) of metadata "
                                                             "routing, which xlogreg's LogisticRegressionCV "
                                                             "does not take (fit takes sample_weight)",
    # cases, by parameter
    "*[*liblinear*]": "solver='liblinear', which xlogreg does not have",
    "*[*sag*]": "solver='sag' or 'saga', which xlogreg does not have",
}

#: A test whose source names either swapped class builds xlogreg's (both are, in the loaded suite).
_USES_OURS = re.compile(r"\bLogisticRegression(?:CV)?\b")

#: Cases that build no xlogreg class although their test's source names one, and that the rules of
#: :func:`_about_xlogreg` cannot see (a parameter chooses the class inside the test). None with scikit-learn
#: 1.9.1, now that LogisticRegressionCV is xlogreg's too.
NOT_ABOUT_XLOGREG = {}


def _about_xlogreg(item):
    """None if `item` builds xlogreg's class, else why not."""
    function = TESTS.get(item.originalname)
    if function is None:
        return None
    for pattern, reason in NOT_ABOUT_XLOGREG.items():
        if _matches(pattern, item.name):
            return reason
    if not _USES_OURS.search(inspect.getsource(function)):
        return "uses neither LogisticRegression nor LogisticRegressionCV (the path functions or others)"
    params = getattr(getattr(item, "callspec", None), "params", {})
    classes = [p for p in params.values() if inspect.isclass(p) and issubclass(p, BaseEstimator)]
    if classes and not any(getattr(xlogreg, cls) in classes for cls in SWAPPED):
        return f"this case runs {classes[0].__name__}, not xlogreg's LogisticRegression or LogisticRegressionCV"
    return None


def _matches(pattern, name):
    """`name` matches `pattern`, where ``*`` is any text and every other character itself (brackets too)."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), name, flags=re.DOTALL) is not None


#: Tests of what xlogreg supports that it does not pass yet, and why: a shortfall to fix, not a missing
#: feature. Each runs as a non-strict xfail (its cases may pass or fail; a pass shows as XPASS).
KNOWN_SHORTFALLS = {
    # none left with scikit-learn 1.9.1: the float32 array-API cases (tol=1e-12) that xlogreg's L-BFGS ran to
    # max_iter now stop at float32's precision (xlogreg/solvers/lbfgs.py, STALL_SHRINK)
}


def not_applicable_reason(name):
    """The reason of the first NOT_APPLICABLE pattern matching the test `name`, or None."""
    for pattern, reason in NOT_APPLICABLE.items():
        if _matches(pattern, name):
            return reason
    return None


@pytest.fixture(autouse=True)
def _classify(request):
    """Skip what is not about xlogreg; run what is not applicable as a strict xfail with its reason."""
    item = request.node
    if item.originalname not in TESTS:  # the tests of this file itself
        return
    reason = _about_xlogreg(item)
    if reason is not None:
        pytest.skip(f"not about xlogreg: {reason}")
    reason = not_applicable_reason(item.name)
    if reason is not None:
        item.add_marker(pytest.mark.xfail(reason=f"not applicable: {reason}", strict=True))
        return
    for pattern, reason in KNOWN_SHORTFALLS.items():
        if _matches(pattern, item.name):
            item.add_marker(pytest.mark.xfail(reason=f"known shortfall: {reason}", strict=False))
            return


def test_runner_every_not_applicable_pattern_names_a_test_of_the_suite():
    """A pattern whose test scikit-learn renamed or removed would silently match nothing."""
    for pattern in [*NOT_APPLICABLE, *NOT_ABOUT_XLOGREG, *KNOWN_SHORTFALLS]:
        function = pattern.split("[", 1)[0]
        assert any(_matches(function, name) for name in TESTS), f"{pattern!r} matches no test of {SUITE_FILE}"


def test_runner_patterns_match_literally():
    assert _matches("*[*sag*]", "test_warm_start[42-True-False-saga]")
    assert not _matches("*[*sag*]", "test_nan")  # fnmatch would: "[*sag*]" is a character class there
    assert _matches("test_liblinear_*", "test_liblinear_not_stuck[42]")
    assert not _matches("test_logistic_cv[*]", "test_logistic_cv_sparse[42-lbfgs-csr_matrix]")


def test_runner_loaded_the_suite_with_xlogreg_inside():
    assert len(TESTS) > 50, sorted(TESTS)
    for cls in SWAPPED:
        assert getattr(_suite, cls) is getattr(xlogreg, cls), cls
        assert getattr(sklearn.linear_model, cls) is not getattr(xlogreg, cls), cls  # restored
        assert getattr(sklearn.linear_model, cls).__module__.startswith("sklearn."), cls


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SCIPY_ARRAY_API") == "1",
                    reason="SCIPY_ARRAY_API=1 is set: the array-API cases above already ran")
def test_runner_array_api_cases_with_scipy_array_api():
    """scikit-learn's array-API tests of LogisticRegression (array-api-strict, torch, and CuPy / torch CUDA
    where they exist, float32 with tol=1e-12 among them) only run with SCIPY_ARRAY_API=1, set before
    scikit-learn is imported: in a new process."""
    pytest.importorskip("array_api_strict")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, SCIPY_ARRAY_API="1", PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # scikit-learn runs its CuPy cases wherever CuPy imports; cupy-cuda12x installs without a GPU and
    # cannot compute there, so they are left out where no GPU is visible to CuPy (xlogreg's own check)
    from xlogreg import _backends

    try:
        _backends._devices("cupy", _backends._import("cupy"))
        selection = "array_api"
    except _backends.BackendError:
        selection = "array_api and not cupy"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", __file__, "-k", selection],
        cwd=root, env=env, capture_output=True, text=True, timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "SCIPY_ARRAY_API is not set" not in out, out[-4000:]
    assert re.search(r"\b\d+ passed", out), out[-4000:]
