"""Write tests/data/l1_reference.json: scikit-learn's L1 / elastic-net optima for tests/test_solvers_l1.py.

The problems (tests/_reference.l1_problems, which the tests call to rebuild the same data):
breast_cancer standardised and digits / 16 (scikit-learn's bundled data), and two
synthetic ones with 4 informative features, more examples than features and more
features than examples. For each (C, l1_ratio): scikit-learn's saga at tol=1e-12
(and liblinear for two classes at l1_ratio 1, with a large intercept_scaling so
that its penalised intercept is nearly free), the objective of each fit computed
from scratch (tests/_reference.sklearn_objective), and the coefficients of the best.

Run: ``python scripts/make_l1_reference.py`` (minutes: saga to 1e-12 is slow).
"""

from __future__ import annotations

import json
import pathlib
import sys
import time
import warnings

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests._reference import l1_problems as problems, sklearn_objective  # noqa: E402

OUT = ROOT / "tests" / "data" / "l1_reference.json"

#: (problem, C, l1_ratio) fitted.
SETTINGS = [(p, C, r) for p, Cs in (("breast_cancer", (0.1, 1.0)), ("digits", (0.1, 1.0)),
                                    ("tall", (0.05, 1.0)), ("wide", (0.1, 1.0)))
            for C in Cs for r in (1.0, 0.5)]


def main():
    from sklearn.linear_model import LogisticRegression

    data = problems()
    records = []
    for name, C, r in SETTINGS:
        X, y = data[name]
        fits = {}
        solvers = ["saga"] + (["liblinear"] if r == 1.0 and len(np.unique(y)) == 2 else [])
        for solver in solvers:
            extra = {"intercept_scaling": 1000.0} if solver == "liblinear" else {}
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # saga's ConvergenceWarning: its objective is recorded anyway
                est = LogisticRegression(solver=solver, l1_ratio=r, C=C, tol=1e-12, max_iter=200_000,
                                         **extra).fit(X, y)
            fits[solver] = {"objective": sklearn_objective(est.coef_, est.intercept_, X, y, C, r),
                            "n_iter": int(np.max(est.n_iter_)), "coef": est.coef_.tolist(),
                            "intercept": est.intercept_.tolist(), "seconds": time.perf_counter() - start}
        best = min(fits, key=lambda s: fits[s]["objective"])
        records.append({"problem": name, "C": C, "l1_ratio": r, "best": best,
                        "fits": {s: {k: v for k, v in f.items() if k not in ("coef", "intercept")} | (
                            {"coef": f["coef"], "intercept": f["intercept"]} if s == best else {})
                                 for s, f in fits.items()}})
        print(name, C, r, {s: (f["objective"], f["n_iter"], round(f["seconds"], 1)) for s, f in fits.items()},
              flush=True)
    import sklearn

    OUT.write_text(json.dumps({"sklearn": sklearn.__version__, "records": records}, indent=1))


if __name__ == "__main__":
    main()
