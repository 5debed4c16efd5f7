"""Run every benchmark of the project and print one table of figures, goals and ratios, with the machine.

Each ``benchmarks/bench_*.py`` runs as its own subprocess (same Python, repository root as the working
directory) with a timeout. Figures are collected from the lines a script prints in the convention

    RESULT name=<figure> value=<number> unit=<unit> goal=<op><number>

(``op`` is ``<=`` or ``>=``; ``goal=`` may stay empty). For scripts that print no RESULT line, the figures
are parsed from their usual output by the patterns in :data:`ADAPTERS`. The ratio is value / goal for
``<=`` goals and goal / value for ``>=`` goals, so a ratio at or below 1 always means the goal is met.

    python benchmarks/run_all.py [--timeout 900] [--only demo dvh] [--markdown]

Exit code: 0 when every script ran (whether or not each goal is met), 1 when a script failed or timed out.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULT_LINE = re.compile(r"^RESULT\s+(.*)$")
FIELD = re.compile(r"(\w+)=(\S*)")
GOAL = re.compile(r"^(<=|>=)\s*([-+0-9.eE]+)$")
NUM = r"([-+]?\d+(?:\.\d+)?)"

#: script stem -> (figure, pattern with one number group, unit, goal) for scripts without RESULT lines
ADAPTERS: dict[str, list[tuple[str, str, str, str]]] = {
    "bench_read_ct": [
        ("read_ct_512x512x300", rf"hbiview\.read_ct\s+best of \d+: {NUM} s", "s", ""),
        ("simpleitk_512x512x300", rf"SimpleITK ImageSeriesReader best of \d+: {NUM} s", "s", ""),
        ("read_ct_vs_simpleitk_time_ratio", rf"ratio hbiview / SimpleITK: {NUM}", "x", "<=1"),
    ],
    "bench_dose": [
        ("upper_hbi_dose_5mm", rf"^\s*5\.0 mm:\s+{NUM} s \(goal", "s", "<=2"),
        ("upper_hbi_dose_2p5mm", rf"^\s*2\.5 mm:\s+{NUM} s \(goal", "s", "<=15"),
        ("upper_hbi_dose_2p5mm_peak_traced", rf"^\s*2\.5 mm:.*peak traced\s+{NUM} MB", "MB", "<=2048"),
        ("dose_process_peak_rss", rf"process peak resident memory.*: {NUM} MB", "MB", "<=2048"),
    ],
    "bench_segment": [
        ("segment_512x512x400_wall", rf"segment:\s+{NUM} s wall", "s", "<=20"),
        ("segment_512x512x400_cpu", rf"segment:.* {NUM} s CPU", "s", ""),
        ("segment_peak_memory", rf"peak memory:\s+{NUM} GB", "GB", "<=4"),
        ("segment_dice_skeleton", rf"skeleton {NUM};", "", ">=0.85"),
        ("segment_marrow_sites_right", rf"marrow sites right {NUM} %", "%", ">=90"),
    ],
    "bench_dvh": [
        ("dvh_6_structures_5mm", rf"dvhs\(\): {NUM} ms", "ms", "<=200"),
        ("dvh_heart_from_files", rf"hbiview\s+{NUM} ms\s+volume", "ms", ""),
        ("dvh_heart_dicompyler_core", rf"dicompyler-core\s+{NUM} ms", "ms", ""),
        ("dvh_speedup_vs_dicompyler", rf"speed ratio dicompyler / hbiview: {NUM}x", "x", ">=10"),
        ("dvh_heart_curve_vs_eclipse", rf"hbiview\s+[\d.]+ ms.*curve {NUM} % of volume", "%", "<=2"),
    ],
    "bench_render": [
        ("render_3d_1280x800_warm", rf"data -> PNG \(warm\)\s+{NUM}s", "s", "<=3"),
        ("render_3d_first_in_process", rf"first render in process\s+{NUM}s", "s", ""),
        ("render_html_page_size", rf"HTML page size\s+{NUM}MB", "MB", "<=10"),
        ("render_html_export", rf"HTML page export time\s+{NUM}s", "s", ""),
    ],
}


@dataclass
class Figure:
    """One measured figure."""

    script: str
    name: str
    value: float
    unit: str
    goal: str

    @property
    def ratio(self) -> float | None:
        """value / goal (``<=``) or goal / value (``>=``): at or below 1 means met."""
        match = GOAL.match(self.goal.replace(" ", ""))
        if not match:
            return None
        op, target = match.group(1), float(match.group(2))
        if op == "<=":
            return self.value / target if target else None
        return target / self.value if self.value else None


def parse_results(script: str, text: str) -> list[Figure]:
    """RESULT lines of ``text``; when there are none, the script's adapter patterns."""
    figures = []
    for line in text.splitlines():
        match = RESULT_LINE.match(line.strip())
        if not match:
            continue
        fields = dict(FIELD.findall(match.group(1)))
        try:
            value = float(fields.get("value", "nan"))
        except ValueError:
            continue
        figures.append(
            Figure(script, fields.get("name", "?"), value, fields.get("unit", ""), fields.get("goal", ""))
        )
    if figures:
        return figures
    for name, pattern, unit, goal in ADAPTERS.get(script, []):
        found = re.search(pattern, text, flags=re.MULTILINE)
        if found:
            figures.append(Figure(script, name, float(found.group(1)), unit, goal))
    return figures


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def _proc_field(path: str, key: str) -> str | None:
    """The text after the colon on the first line of ``path`` starting with ``key`` (None: no such line)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine() -> list[tuple[str, str]]:
    """CPU model, cores, memory, OS, Python and the versions of the libraries the figures depend on."""
    cpu = _proc_field("/proc/cpuinfo", "model name")
    if cpu is None:
        cpu = platform.processor() or "?"
    total_kb = _proc_field("/proc/meminfo", "MemTotal")  # "16318888 kB"
    memory = "?" if total_kb is None else f"{int(total_kb.split()[0]) / 1024**2:.1f} GB"
    libs = ", ".join(
        f"{name} {_version(name)}"
        for name in ("hbiview", "numpy", "scipy", "vtk", "pyvista", "pydicom", "matplotlib")
    )
    return [
        ("cpu", cpu),
        ("cores", f"{os.cpu_count()} (load average {os.getloadavg()[0]:.2f} at the start)"),
        ("memory", memory),
        ("system", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("python", platform.python_version()),
        ("libraries", libs),
    ]


def discover(only: list[str] | None) -> list[Path]:
    scripts = sorted(p for p in HERE.glob("bench_*.py"))
    if only:
        scripts = [p for p in scripts if any(key in p.stem for key in only)]
    return scripts


def run_script(path: Path, timeout_s: float) -> tuple[str, float, str]:
    """Run one script; returns (status, seconds, stdout + stderr)."""
    start = time.perf_counter()
    env = dict(os.environ, HBIVIEW_NO_PROGRESS="1", PYTHONUNBUFFERED="1")
    try:
        done = subprocess.run(
            [sys.executable, str(path)], cwd=REPO, capture_output=True, text=True, timeout=timeout_s, env=env
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return f"timeout after {timeout_s:.0f} s", time.perf_counter() - start, out
    status = "ok" if done.returncode == 0 else f"exit {done.returncode}"
    return status, time.perf_counter() - start, done.stdout + "\n" + done.stderr


def format_table(figures: list[Figure], markdown: bool) -> str:
    rows = [("benchmark", "figure", "measured", "goal", "ratio", "")]
    for f in figures:
        ratio = f.ratio
        value = f"{f.value:.3g} {f.unit}".strip()
        goal = f"{f.goal} {f.unit}".strip() if f.goal else ""
        verdict = "" if ratio is None else ("met" if ratio <= 1.0 else "NOT met")
        rows.append(
            (
                f.script.removeprefix("bench_"),
                f.name,
                value,
                goal,
                "" if ratio is None else f"{ratio:.2f}",
                verdict,
            )
        )
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for k, r in enumerate(rows):
        out.append(
            "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
        )
        if k == 0:
            out.append("-" * len(out[0]))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per script (default 900)")
    parser.add_argument("--only", nargs="+", metavar="KEY", help="run only scripts whose name holds KEY")
    parser.add_argument(
        "--markdown", action="store_true", help="print the table as Markdown (for the README)"
    )
    parser.add_argument("--verbose", action="store_true", help="also print each script's own output")
    args = parser.parse_args(argv)

    info = machine()
    figures: list[Figure] = []
    statuses = []
    for path in discover(args.only):
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        status, seconds, output = run_script(path, args.timeout)
        found = parse_results(path.stem, output)
        statuses.append((path.name, status, seconds, len(found)))
        figures.extend(found)
        if args.verbose or status != "ok":
            print(f"----- {path.name} ({status})\n{output.strip()}\n", file=sys.stderr)

    print("Machine")
    width = max(len(k) for k, _ in info)
    for key, value in info:
        print(f"  {key:<{width}}  {value}")
    print()
    print("Scripts")
    for name, status, seconds, n in statuses:
        print(f"  {name:<22} {status:<24} {seconds:7.1f} s  {n} figure(s)")
    print()
    print(format_table(figures, args.markdown))
    return 0 if all(s == "ok" for _, s, _, _ in statuses) else 1


if __name__ == "__main__":
    sys.exit(main())
