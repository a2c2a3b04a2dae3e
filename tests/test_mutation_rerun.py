"""scripts/mutation_rerun.py: each named mutant is activated in turn and gets its verdict."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_each_mutant_is_run_with_its_name_and_judged(tmp_path):
    (tmp_path / "test_target.py").write_text(
        "import os\n\n"
        "def test_target():\n"
        "    assert os.environ['MUTANT_UNDER_TEST'] != 'm.x_f__mutmut_2'\n")
    (tmp_path / "names.txt").write_text("m.x_f__mutmut_1\n\nm.x_f__mutmut_2\n")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "mutation_rerun.py"), "names.txt", "out.txt",
                           "--first", "target", "--", "test_target.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    verdicts = [line.split()[:2] for line in (tmp_path / "out.txt").read_text().splitlines()]
    assert verdicts == [["clean:", "survived"], ["m.x_f__mutmut_1:", "survived"], ["m.x_f__mutmut_2:", "killed"]]
    assert "FAILED test_target.py::test_target" in (tmp_path / "out.txt").read_text().splitlines()[2]


def test_an_empty_names_file_is_refused(tmp_path):
    (tmp_path / "names.txt").write_text("\n")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "mutation_rerun.py"), "names.txt", "out.txt"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "names.txt names no mutant" in proc.stderr
