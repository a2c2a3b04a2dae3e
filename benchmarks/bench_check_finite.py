"""X's finiteness check at entry: ``check_finite`` (column sums by one matrix-vector product) against
``all(isfinite(X))`` and one ``w.T @ X``, X of 300 MiB float64 in C and Fortran order; ratios in one run.

    python benchmarks/bench_check_finite.py     # ~20 seconds; writes results/check_finite.json
"""
import json
import sys

import numpy as np
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from bench_core import side_by_side, summary, machine
from xlogreg import _validation
rng=np.random.default_rng(0)
rows=[]
for order in "CF":
    X=np.asarray(rng.standard_normal((200, 196_608),dtype=np.float32),dtype=np.float64,order=order)  # 300 MiB
    w=np.zeros((200,1))
    t=side_by_side({"w.T @ X": lambda: w.T@X, "all(isfinite(X))": lambda: bool(np.all(np.isfinite(X))) and None,
                    "check_finite(X)": lambda: _validation.check_finite(X, "X")}, 5)
    mv=summary(t["w.T @ X"])
    row={"order":order,"MB":X.nbytes/1e6, "matvec_ms": mv["min"]*1e3}
    for k in ("all(isfinite(X))","check_finite(X)"):
        s=summary(t[k]); row[k]={"ms":s["min"]*1e3,"x_matvec":s["min"]/mv["min"],"median_x":s["median"]/mv["median"]}
    rows.append(row); print(row, flush=True)
json.dump({"machine":machine(),"command":"python benchmarks/bench_check_finite.py","rows":rows},open(__import__("pathlib").Path(__file__).resolve().parent / "results" / "check_finite.json", "w"),indent=1)
