#!/usr/bin/env python3
"""Executes the evcxr notebooks headlessly and fails on any cell error.

    python scripts/run_notebooks.py [--scale smoke|workshop] [--out DIR] [--in-place] [NOTEBOOK ...]
    python scripts/run_notebooks.py --self-test

Each notebook runs with the `rust` kernel (evcxr_jupyter), its working directory `notebooks/`
(where `evcxr.toml` makes a panicking cell fail), `R1LAB_SCALE` set, and `R1LAB_REPORTS` /
`R1LAB_RUNS` pointing under `--out`, so a test run never touches `reports/` or `runs/`. One
persistent build folder (`EVCXR_TMPDIR`, default `target/evcxr`) is shared by the notebooks, which
run one at a time: the first compiles the crate for minutes, the next ones reuse it. The build
folder starts from the crate's `Cargo.lock`, so the kernel compiles the same dependency versions
as `cargo test`.

A notebook fails when a cell raises an error, when anything is written to stderr (evcxr reports an
error returned by a top-level `?` only there), or when a report file it promises is missing or
empty. The promised files are listed in the notebook's metadata: `{"r1lab": {"writes": [...]}}`.
evcxr can deliver a cell's stderr after the cell has finished, attached to the next request, so a
short sentinel cell runs after the last one and is removed before the notebook is saved.

`--self-test` proves the runner catches failures: a notebook whose cell panics and one whose cell
returns an error through `?` must both fail, and a clean one must pass.
"""

import argparse
import os
import pathlib
import shutil
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SENTINEL = 'std::thread::sleep(std::time::Duration::from_millis(1500)); println!("r1lab: end of notebook");'


def failures(nb):
    """Every error output and every stderr stream of the executed notebook, as messages."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = "the sentinel after the last cell" if cell.get("metadata", {}).get("r1lab_sentinel") else f"cell {i}"
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                out.append(f"{where}: {o.get('ename', '')}: {o.get('evalue', '')}".strip())
            elif o.get("output_type") == "stream" and o.get("name") == "stderr" and o.get("text", "").strip():
                out.append(f"{where} wrote to stderr: {o['text'].strip()[:2000]}")
    return out


def execute(path, out_dir, scale, timeout, in_place=False):
    """Runs one notebook; returns (problems, seconds, executed notebook)."""
    nb = nbformat.read(path, as_version=4)
    sentinel = nbformat.v4.new_code_cell(SENTINEL)
    sentinel.metadata["r1lab_sentinel"] = True
    nb.cells.append(sentinel)
    reports = out_dir / "reports"
    os.environ.update(
        {
            "R1LAB_SCALE": scale,
            "R1LAB_REPORTS": str(reports),
            "R1LAB_RUNS": str(out_dir / "runs"),
            "R1LAB_ROOT": str(ROOT),
        }
    )
    if in_place:
        # Committed outputs: the notebooks write the real reports and reuse the real runs.
        for var in ("R1LAB_REPORTS", "R1LAB_RUNS"):
            os.environ.pop(var, None)
        reports = ROOT / "reports"
    os.environ.setdefault("EVCXR_TMPDIR", str(ROOT / "target" / "evcxr"))
    build = pathlib.Path(os.environ["EVCXR_TMPDIR"])
    build.mkdir(parents=True, exist_ok=True)
    # evcxr resolves dependencies afresh; starting from the crate's lockfile pins the versions
    # the tests were run with.
    if not (build / "Cargo.lock").exists():
        shutil.copy(ROOT / "Cargo.lock", build / "Cargo.lock")
    client = NotebookClient(
        nb,
        kernel_name="rust",
        timeout=timeout,
        startup_timeout=120,
        # The kernel starts in notebooks/, where evcxr.toml makes a panicking cell fail.
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    start = time.time()
    problems = []
    try:
        client.execute()
    except CellTimeoutError as e:
        problems.append(f"a cell ran past {timeout} s: {str(e)[:500]}")
    except DeadKernelError as e:
        problems.append(f"the kernel died: {e}")
    except CellExecutionError as e:
        problems.append(f"cell error: {str(e)[:3000]}")
    seconds = time.time() - start
    problems += [p for p in failures(nb) if p not in problems]
    for name in nb.metadata.get("r1lab", {}).get("writes", []):
        f = reports / name
        if not f.exists() or f.stat().st_size == 0:
            problems.append(f"promised report {name} is missing or empty in {reports}")
    nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get("r1lab_sentinel")]
    return problems, seconds, nb


def self_test(out_dir, timeout):
    """A panicking cell and a `?` error must fail; a clean notebook must pass."""
    cases = {
        "panics": ('let v: Vec<u32> = vec![];\nlet x = v[3];\nprintln!("{x}");', True),
        "question_mark": (
            'let n: i32 = "not a number".parse::<i32>().map_err(|e| e.to_string())?;\nprintln!("{n}");',
            True,
        ),
        "clean": ('let x = 40 + 2;\nprintln!("{x}");', False),
    }
    ok = True
    with tempfile.TemporaryDirectory(dir=NOTEBOOKS, prefix=".selftest-") as tmp:
        tmp = pathlib.Path(tmp)
        for name, (code, should_fail) in cases.items():
            nb = nbformat.v4.new_notebook()
            nb.cells = [nbformat.v4.new_code_cell(code)]
            nb.metadata["kernelspec"] = {"name": "rust", "display_name": "Rust", "language": "rust"}
            path = tmp / f"{name}.ipynb"
            nbformat.write(nb, path)
            problems, seconds, _ = execute(path, out_dir / "selftest", "smoke", timeout)
            failed = bool(problems)
            verdict = "ok" if failed == should_fail else "WRONG"
            print(f"self-test {name}: {'failed' if failed else 'passed'} ({seconds:.0f} s) -> {verdict}")
            for p in problems[:3]:
                print(f"    {p.splitlines()[0][:200]}")
            ok &= failed == should_fail
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=pathlib.Path)
    ap.add_argument("--scale", default="smoke", choices=["smoke", "workshop"])
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "target" / "notebooks")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell (the first compiles the crate)")
    ap.add_argument("--in-place", action="store_true", help="save outputs into the notebooks and write the real reports/")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    given = [p.resolve() for p in args.notebooks]
    os.chdir(NOTEBOOKS)
    if args.self_test:
        sys.exit(0 if self_test(args.out, args.timeout) else 1)
    paths = given or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        sys.exit(f"no notebooks found in {NOTEBOOKS}")
    failed = []
    for path in paths:
        problems, seconds, nb = execute(path, args.out, args.scale, args.timeout, args.in_place)
        target = path if args.in_place else args.out / path.name
        nbformat.write(nb, target)
        status = "ok" if not problems else "FAILED"
        print(f"{path.name}: {status} in {seconds:.0f} s -> {target}", flush=True)
        for p in problems:
            print(f"    {p}", flush=True)
        if problems:
            failed.append(path.name)
    if failed:
        sys.exit(f"{len(failed)} notebook(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
