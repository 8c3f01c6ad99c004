#!/usr/bin/env python3
"""Executes the evcxr notebooks headlessly and fails on any cell error.

    python scripts/run_notebooks.py [--scale smoke|workshop] [--out DIR] [--in-place] [NOTEBOOK ...]
    python scripts/run_notebooks.py --self-test

Each notebook runs with the `rust` kernel (evcxr_jupyter), its working directory `notebooks/`
(where `evcxr.toml` makes a panicking cell fail), `R1LAB_SCALE` set, and `R1LAB_REPORTS` /
`R1LAB_RUNS` pointing under `--out`, so a test run never touches `reports/` or `runs/`. One
persistent build folder (`tmpdir` in `notebooks/evcxr.toml`: `target/evcxr`) is shared by the
notebooks, which run one at a time: the first compiles the crate for minutes, the next ones reuse it. The build
folder starts from the crate's `Cargo.lock`, so the kernel compiles the same dependency versions
as `cargo test`.

A notebook fails when a cell raises an error, when anything is written to stderr (evcxr reports an
error returned by a top-level `?` only there), or when a report file it promises is missing or
empty. The promised files are listed in the notebook's metadata: `{"r1lab": {"writes": [...]}}`.
evcxr can deliver a cell's stderr after the cell has gone idle: tagged with that cell's request when
it arrives before the next request, with the next one after it. nbclient drops the first kind
(an output whose parent is an earlier request); `Client` keeps it and files it under its cell. A
short sentinel cell runs after the last one, for the second kind and for a late line of the last
cell (read while the sentinel runs), and is removed before the notebook is saved.

`--self-test` proves the runner catches failures: a notebook whose cell panics, one whose cell
returns an error through `?`, and one whose stderr arrives only after its cell has gone idle must
all fail, and a clean one must pass.
"""

import argparse
import asyncio
import os
import pathlib
import re
import shutil
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete, CellExecutionError, CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SENTINEL = 'std::thread::sleep(std::time::Duration::from_millis(1500)); println!("r1lab: end of notebook");'


class Client(NotebookClient):
    """An nbclient client that loses no stderr.

    nbclient 0.11 reads the kernel's output stream for one request at a time and drops any message
    whose parent is another request. evcxr tags each output line with the latest request when the
    line reaches it, so a `?` error printed just as a cell ends can arrive after that cell went idle,
    still tagged with it: nbclient would drop it while it waits on the next cell, and the notebook
    would pass. This client files such a late stderr line under the cell it belongs to. `pause`
    seconds pass before each cell (the self-test uses it to open that window wide).
    """

    def __init__(self, nb, pause=0.0, **kw):
        super().__init__(nb, **kw)
        self.pause = pause
        self.cell_of_request = {}

    async def async_execute_cell(self, cell, cell_index, *args, **kw):
        if self.pause:
            await asyncio.sleep(self.pause)
        return await super().async_execute_cell(cell, cell_index, *args, **kw)

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        # nbclient's own loop, plus the branch for a message of an earlier request.
        self.cell_of_request[parent_msg_id] = cell_index
        while True:
            msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
            parent = msg["parent_header"].get("msg_id")
            if parent == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    return
            elif parent in self.cell_of_request and msg["msg_type"] == "stream" and msg["content"].get("name") == "stderr":
                earlier = self.nb.cells[self.cell_of_request[parent]]
                earlier.setdefault("outputs", []).append(nbformat.v4.output_from_msg(msg))


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


def kernel_build_dir():
    """The kernel's build folder, `tmpdir` in notebooks/evcxr.toml (relative to notebooks/), made
    ready: evcxr resolves dependencies afresh, so it starts from the crate's lockfile, which pins
    the versions the tests were run with (again after a notebook without the crate, such as the
    self-test's, pruned it). scripts/setup_notebooks.sh does the same for Jupyter."""
    found = re.search(r'^tmpdir\s*=\s*"([^"]+)"', (NOTEBOOKS / "evcxr.toml").read_text(), re.M)
    if not found:
        sys.exit("notebooks/evcxr.toml names no tmpdir: the kernel would build in a new folder")
    build = (NOTEBOOKS / found.group(1)).resolve()
    build.mkdir(parents=True, exist_ok=True)
    lock = build / "Cargo.lock"
    if not lock.exists() or 'name = "r1lab"' not in lock.read_text():
        shutil.copy(ROOT / "Cargo.lock", lock)
    return build


def published_candle(build):
    """The notebooks must build the CLI's candle: vendor/candle-core, through the `[patch]` in
    .cargo/config.toml, which cargo finds because the kernel's build folder is inside the
    repository. A candle-core from the registry in the kernel's lockfile means it did not."""
    lock = build / "Cargo.lock"
    if not lock.exists():
        return []
    for package in lock.read_text().split("[[package]]"):
        if 'name = "candle-core"' in package and "source = " in package:
            return [
                f"the kernel built the published candle-core ({lock}), not vendor/candle-core: "
                "keep `tmpdir` in notebooks/evcxr.toml a folder inside the repository "
                "(target/evcxr)"
            ]
    return []


def execute(path, out_dir, scale, timeout, in_place=False, pause=0.0):
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
    build = kernel_build_dir()
    client = Client(
        nb,
        pause=pause,
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
    problems += published_candle(build)
    for name in nb.metadata.get("r1lab", {}).get("writes", []):
        f = reports / name
        if not f.exists() or f.stat().st_size == 0:
            problems.append(f"promised report {name} is missing or empty in {reports}")
    nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get("r1lab_sentinel")]
    return problems, seconds, nb


def self_test(out_dir, timeout):
    """A panicking cell, a `?` error and a late stderr line must fail; a clean notebook must pass."""
    # (cells, should fail, seconds paused before each cell)
    cases = {
        "panics": ('let v: Vec<u32> = vec![];\nlet x = v[3];\nprintln!("{x}");', True, 0.0),
        "question_mark": (
            'let n: i32 = "not a number".parse::<i32>().map_err(|e| e.to_string())?;\nprintln!("{n}");',
            True,
            0.0,
        ),
        # A line written to stderr 0.3 s after its cell ended; the runner waits 1.5 s before the
        # next cell, so the line arrives tagged with the first cell and after it went idle.
        "late_stderr": (
            'std::thread::spawn(|| {\n    std::thread::sleep(std::time::Duration::from_millis(300));\n    eprintln!("a late error");\n});',
            True,
            1.5,
        ),
        "clean": ('let x = 40 + 2;\nprintln!("{x}");', False, 0.0),
    }
    ok = True
    with tempfile.TemporaryDirectory(dir=NOTEBOOKS, prefix=".selftest-") as tmp:
        tmp = pathlib.Path(tmp)
        for name, (code, should_fail, pause) in cases.items():
            nb = nbformat.v4.new_notebook()
            nb.cells = [nbformat.v4.new_code_cell(code)]
            nb.metadata["kernelspec"] = {"name": "rust", "display_name": "Rust", "language": "rust"}
            path = tmp / f"{name}.ipynb"
            nbformat.write(nb, path)
            problems, seconds, _ = execute(path, out_dir / "selftest", "smoke", timeout, pause=pause)
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
