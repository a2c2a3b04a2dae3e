"""The examples of the README and of the documentation's pages run as written, as a reader runs them.

Each file (README.md, and every ``docs/**/*.md`` page) is run on its own, in its own new folder
and interpreter, as a reader who follows that page alone would.

The fenced ``python`` blocks run one after the other in one fresh interpreter (one namespace,
as a reader pasting them into a session), the ``bash``/``sh``/``shell``/``console`` blocks one
after the other in one folder, with ``xlogreg`` (``python -m xlogreg`` of this checkout) and
``python`` first on the PATH. The folder is new, beside a ``shared/datasets`` that points to the
course data (``XLOGREG_DATA_DIR``), so the README's ``../shared/datasets/...`` paths work as
written. A block of output right after a command block must appear in what it printed, line
by line (``...`` lines left out).

The HTML comment on the line above a block (README, "Examples that run"):
``<!-- readme-test: skip (why) -->`` is not run; ``<!-- readme-test: needs torch jax -->``
runs where those backends are (``conftest.import_backend``: skipped with the reason, or a
failure where CI requires them); ``<!-- ci: ... -->`` blocks are run by ``.ci/run`` itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass

import pytest

from conftest import ROOT, import_backend

README = ROOT / "README.md"
# The documentation's Markdown pages (docs/, not its build output), each run as the README is.
DOCUMENTS = [README] + sorted(p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts)
SHELLS = ("bash", "sh", "shell", "console")
MARKER = re.compile(r"<!--\s*(readme-test|ci):\s*(.*?)\s*-->")
MAX_SKIPPED = 8  # skipped blocks stay few, in each file: each one is an example nobody checks
CI_MARKERS = ("main command", "test command", "full test command", "docs command")  # README only: .ci/run runs them


@dataclass(frozen=True)
class Block:
    doc: str  # the file, relative to the repository root
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    marker: tuple | None  # ("readme-test" | "ci", text) of the comment above, if any
    output: str | None  # the untagged block right after it (what it prints), if any

    @property
    def id(self):
        return f"{self.doc}-{self.language}-line-{self.line}"

    @property
    def skip_reason(self):
        if self.marker and self.marker[0] == "ci":
            return f"run by .ci/run itself ({self.marker[1]})"
        if self.marker and self.marker[1].startswith("skip"):
            return self.marker[1]
        return None

    @property
    def needs(self):
        if self.marker and self.marker[0] == "readme-test" and self.marker[1].startswith("needs "):
            return self.marker[1].split()[1:]
        return []


def readme_blocks(text, doc="README.md"):
    """Every fenced block of `text`, with the marker comment above it and the output block after it."""
    lines = text.splitlines()
    raw, i = [], 0
    while i < len(lines):
        fence = re.fullmatch(r"```(\w*|\{[\w-]+\})\s*", lines[i])  # a language, or a MyST directive
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        above = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        marker = MARKER.fullmatch(above)
        raw.append((i + 1, end + 1, fence.group(1), "\n".join(lines[i + 1:end]) + "\n",
                    marker.groups() if marker else None))
        i = end + 1
    blocks = []
    for n, (line, end, language, code, marker) in enumerate(raw):
        following = raw[n + 1] if n + 1 < len(raw) else None
        output = following[3] if following and following[2] == "" and following[0] == end + 1 else None
        blocks.append(Block(doc, line, language, code, marker, output))
    return blocks


BLOCKS = [block for path in DOCUMENTS
          for block in readme_blocks(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
PYTHON = [b for b in BLOCKS if b.language == "python"]
SHELL = [b for b in BLOCKS if b.language in SHELLS]


def _runnable(block):
    return block.skip_reason is None and all(importlib.util.find_spec(n) is not None for n in block.needs)


def test_every_command_ci_runs_is_in_the_readme():
    """``.ci/run`` reads its commands from here by marker: each one it names has its block, and the
    quick and the full test commands are the README's (`--full` only in the second)."""
    names = set(re.findall(r'(?:readme_command|run_tests) "([^"$]+)"', (ROOT / ".ci" / "run").read_text()))
    assert set(names) == set(CI_MARKERS)
    commands = {b.marker[1]: b.code.strip() for b in BLOCKS
                if b.doc == "README.md" and b.marker and b.marker[0] == "ci"}
    assert set(commands) == set(names)
    assert commands["test command"].endswith("python -m pytest")
    assert commands["full test command"].endswith("python -m pytest --full")


def test_markers_are_known_and_skips_few():
    for block in BLOCKS:
        if block.marker is None:
            continue
        kind, text = block.marker
        if kind == "ci":
            assert block.doc == "README.md" and text in CI_MARKERS, block
        else:
            assert re.fullmatch(r"skip \(.+\)|needs( \w+)+", text), \
                f"unknown marker above {block.doc} line {block.line}: {text}"
            assert block.language in ("python",) + SHELLS, \
                f"marker above a {block.language!r} block, {block.doc} line {block.line}"
    for path in DOCUMENTS:
        doc = str(path.relative_to(ROOT))
        skipped = [b for b in BLOCKS if b.doc == doc and b.skip_reason and b.marker[0] == "readme-test"]
        assert len(skipped) <= MAX_SKIPPED, [(doc, b.line, b.skip_reason) for b in skipped]
    # The README has its three commands for CI, each once.
    assert sorted(b.marker[1] for b in BLOCKS if b.marker and b.marker[0] == "ci") == sorted(CI_MARKERS)
    # Most examples run: the course in Python, train() and Model, the command line.
    assert sum(b.skip_reason is None for b in PYTHON if b.doc == "README.md") >= 3
    assert sum(b.skip_reason is None for b in PYTHON) >= 15
    assert sum(b.skip_reason is None for b in SHELL) >= 5


def test_block_parser_on_a_small_readme():
    """The parser itself, on a hand-made README: markers, languages, the output block after a command."""
    text = ("intro\n<!-- readme-test: skip (a GPU) -->\n\n```python\nimport cupy\n```\n"
            "```bash\necho hi\n```\n```\nhi\n```\n<!-- ci: main command -->\n```bash\npip install .\n```\n")
    gpu, echo, out, ci = readme_blocks(text)
    assert gpu.doc == "README.md" and gpu.id == "README.md-python-line-4"
    assert (gpu.line, gpu.language, gpu.code, gpu.skip_reason) == (4, "python", "import cupy\n", "skip (a GPU)")
    assert (echo.language, echo.code, echo.output, echo.skip_reason) == ("bash", "echo hi\n", "hi\n", None)
    assert out.language == "" and out.output is None
    assert ci.skip_reason.startswith("run by .ci/run")


@pytest.fixture(scope="module")
def reader(course_paths, tmp_path_factory):
    """reader(doc): a new folder for that file's reader, beside shared/datasets, and a reader's environment."""
    folders = {}

    def folder(doc):
        if doc not in folders:
            folders[doc] = _reader_folder(course_paths, tmp_path_factory.mktemp("reader"))
        return folders[doc]

    return folder


def _reader_folder(course_paths, base):
    (base / "shared").mkdir()
    (base / "shared" / "datasets").symlink_to(course_paths[0].parent.resolve(), target_is_directory=True)
    work = base / "work"
    work.mkdir()
    bin_dir = base / "bin"
    bin_dir.mkdir()
    for name, command in (("xlogreg", f'"{sys.executable}" -m xlogreg'), ("python", f'"{sys.executable}"')):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", MPLBACKEND="Agg",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("JAX_ENABLE_X64", None)  # a reader's JAX: float32 unless the example says otherwise
    return work, env


DRIVER = r"""
import json, sys, traceback
blocks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
results = {}
for line, code in blocks:
    print(f"--- README block at line {line}", flush=True)
    try:
        exec(compile(code, f"README.md:{line}", "exec"), namespace)
    except BaseException:
        results[line] = traceback.format_exc()
        break
    results[line] = None
json.dump(results, open(sys.argv[2], "w"))
"""


@pytest.fixture(scope="module")
def python_results(reader):
    """python_results(doc): {line: None (ran) or the traceback} for that file's runnable Python blocks,
    run in order in one interpreter (once per file)."""
    cache = {}

    def run(doc):
        if doc not in cache:
            work, env = reader(doc)
            blocks = [(b.line, b.code) for b in PYTHON if b.doc == doc and _runnable(b)]
            (work / "blocks.json").write_text(json.dumps(blocks))
            proc = subprocess.run([sys.executable, "-c", DRIVER, "blocks.json", "results.json"], cwd=work,
                                  env=env, capture_output=True, text=True, timeout=1200,
                                  stdin=subprocess.DEVNULL)
            results = json.loads((work / "results.json").read_text()) if (work / "results.json").exists() else {}
            cache[doc] = {int(k): v for k, v in results.items()}, proc
        return cache[doc]

    return run


@pytest.mark.parametrize("block", PYTHON, ids=[b.id for b in PYTHON])
def test_python_example_runs(block, python_results):
    if block.skip_reason:
        pytest.skip(f"{block.doc} line {block.line}: {block.skip_reason}")
    for name in block.needs:
        import_backend(name)
    results, proc = python_results(block.doc)
    assert block.line in results, (f"{block.doc} line {block.line} did not run (an earlier block failed?)\n"
                                   f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}")
    assert results[block.line] is None, f"{block.doc} line {block.line} failed:\n{results[block.line]}"


@pytest.fixture(scope="module")
def shell_results(reader):
    """shell_results(doc): {line: CompletedProcess} for that file's runnable shell blocks, run in order in
    one folder (stops at a failure; once per file)."""
    cache = {}

    def run(doc):
        if doc not in cache:
            cache[doc] = _run_shell_blocks([b for b in SHELL if b.doc == doc], *reader(doc))
        return cache[doc]

    return run


def _run_shell_blocks(blocks, work, env):
    results = {}
    for block in blocks:
        if not _runnable(block):
            continue
        code = block.code
        if block.language == "console":  # only the commands after a "$ " prompt
            code = "\n".join(ln[2:] for ln in code.splitlines() if ln.startswith("$ ")) + "\n"
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=work, env=env,
                              capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
        results[block.line] = proc
        if proc.returncode != 0:
            break
    return results


@pytest.mark.parametrize("block", SHELL, ids=[b.id for b in SHELL])
def test_shell_example_runs(block, shell_results):
    if block.skip_reason:
        pytest.skip(f"{block.doc} line {block.line}: {block.skip_reason}")
    for name in block.needs:
        import_backend(name)
    results = shell_results(block.doc)
    assert block.line in results, f"{block.doc} line {block.line} did not run: an earlier shell block failed"
    proc = results[block.line]
    assert proc.returncode == 0, (f"{block.doc} line {block.line} exited {proc.returncode}:\n{block.code}\n"
                                  f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}")
    if block.output is not None:
        printed = set((proc.stdout + proc.stderr).splitlines())
        shown = [ln for ln in block.output.splitlines() if ln.strip() and ln.strip() != "..."]
        missing = [ln for ln in shown if ln not in printed]
        assert not missing, (f"{block.doc} line {block.line}: the output shown is not what the command prints; "
                             f"not printed: {missing}\nstdout:\n{proc.stdout[-3000:]}")
