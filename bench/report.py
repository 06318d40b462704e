"""The results as a Markdown table (in docs/benchmarks.md) and PNG plots (in docs/img/).

``python -m bench.report [bench/results/full.json]`` redraws both from a results file.
Only the block between the ``bench:results`` markers of docs/benchmarks.md is
rewritten; the prose around it is kept.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from bench.loadgen import decode, new_histogram
from bench.procs import ROOT

DOC = ROOT / "docs" / "benchmarks.md"
IMG = ROOT / "docs" / "img"
BEGIN = "<!-- bench:results:begin (written by `python -m bench.report`) -->"
END = "<!-- bench:results:end -->"
PAYLOAD_BEGIN = "<!-- bench:payload:begin (written by `python -m bench.run --only S8,S9`) -->"
PAYLOAD_END = "<!-- bench:payload:end -->"
COLORS = {
    "crunch": "#d62728",
    "crunch-nice0": "#ff9896",
    "crunch-nohold": "#ff9896",
    "crunch-haproxy": "#8c564b",
    "blocking": "#7f7f7f",
    "threadpool": "#bcbd22",
    "executor": "#1f77b4",
    "cluster": "#2ca02c",
    "bare": "#9467bd",
    "trivial": "#17becf",
    "ppe": "#1f77b4",
    "anyio": "#ff7f0e",
}


# --------------------------------------------------------------------------- table


def _num(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "∞"
    mag = abs(value)
    if (unit in ("", "MB") and float(value).is_integer()) or mag >= 100:
        text = f"{value:.0f}"
    elif mag >= 10:
        text = f"{value:.1f}"
    elif mag >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return text


def _spread(s: dict[str, Any] | None, unit: str = "") -> str:
    if not s or s.get("median") is None:
        return "—"
    med = _num(s["median"], unit)
    if len(s.get("values", [])) > 1 and s["min"] != s["max"]:
        return f"{med} ({_num(s['min'], unit)}-{_num(s['max'], unit)})"
    return med


def table(goals: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> str:
    """Markdown: goal, crunch, each peer, ratio, pass/miss. Cells: median (min-max)."""
    lines = [
        "| id | measure | goal | crunch | peers | ratio | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in goals:
        unit = row["unit"]
        peers = (
            "<br>".join(f"{name}: {_spread(s, unit)}" for name, s in row["peers"].items()) or "—"
        )
        ratio = _spread(row["ratio"]) if row["ratio"] else "—"
        if row["result"] is None:
            result = "—"
        else:
            mark = "**pass**" if row["result"] == "pass" else "**MISS**"
            result = f"{mark} ({row['reps_passed']}/{row['reps']} reps)"
        crunch = _spread(row["crunch"], unit)
        lines.append(
            f"| {row['id']} | {row['measure']} | {row['goal']} | {crunch} | {peers} | "
            f"{ratio} | {result} |"
        )
    return "\n".join(lines)


def _conditions(results: dict[str, Any]) -> str:
    meta, reps = results["meta"], results["reps"]
    config = meta["config"]
    lines = [
        f"Run `{config['name']}`: {len(reps)} repetition(s), {config['workers']} workers, "
        f"commit `{meta['commit']}`, Python {meta['python']}, {meta['cpus']} CPUs, "
        f"{meta['started']} → {meta['finished']} (UTC).",
        "",
        "| rep | load avg before → after (1/5/15 min) | inline `spin` ~50 / ~200 / ~1 "
        "(/ ~25: S10) ms "
        "| generator self-test: bulk p99, probe p99 (ms) | minutes |",
        "|---|---|---|---|---|",
    ]
    for rep in reps:
        before = "/".join(f"{x:.1f}" for x in rep["load_before"])
        after = "/".join(f"{x:.1f}" for x in rep["load_after"])
        sizes = rep["sizes"]
        spins = " / ".join(
            f"{sizes[k]['ms']:.1f} ms (n={sizes[k]['n']})"
            for k in ("task", "big", "small", "storm")
            if k in sizes
        )
        bulk = rep["selftest"]["bulk"]
        probe = rep["selftest"]["probe"]
        lines.append(
            f"| {rep['index']} | {before} → {after} | {spins} | "
            f"{_num(bulk['latency_ms'].get('p99'))} at {bulk['rate']:.0f}/s "
            f"({'ok' if bulk.get('passed') else 'NOT ok: ' + bulk.get('reason', '')}), "
            f"{_num(probe['latency_ms'].get('p99'))} at {probe['rate']:.0f}/s | "
            f"{rep['elapsed'] / 60:.1f} |"
        )
    return "\n".join(lines)


def block(results: dict[str, Any], images: list[Path]) -> str:
    parts = [
        BEGIN,
        "",
        _conditions(results),
        "",
        "Cells: median of the repetitions (min-max). Ratios are computed within each "
        "repetition, then summarised; a goal passes when its median meets it.",
        "",
        table(results["goals"]),
        "",
    ]
    for image in images:
        rel = image.relative_to(DOC.parent)
        parts.append(f"![{image.stem}]({rel.as_posix()})")
        parts.append("")
    parts.append(END)
    return "\n".join(parts)


def _replace_block(begin: str, end: str, block_text: str) -> None:
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{begin}\n{end}\n"
    head, sep, rest = text.partition(begin)
    if not sep:
        head, rest = text.rstrip() + "\n\n", end
    _, sep, tail = rest.partition(end)
    DOC.write_text(head + block_text + (tail if sep else "\n"))


def write(results: dict[str, Any]) -> None:
    """Redraw the plots and rewrite the results block of docs/benchmarks.md."""
    images = plots(results, IMG)
    _replace_block(BEGIN, END, block(results, images))


def write_payload(results: dict[str, Any]) -> None:
    """The block of a payload-only run (S8, S9): its table and plots."""
    import matplotlib

    matplotlib.use("Agg")
    images = payload_plots(results["reps"], IMG)
    meta = results["meta"]
    loads = "; ".join(
        "/".join(f"{x:.1f}" for x in r["load_before"])
        + " → "
        + "/".join(f"{x:.1f}" for x in r["load_after"])
        for r in results["reps"]
    )
    lines = [
        PAYLOAD_BEGIN,
        "",
        f"Run `{meta['config']['name']}` with `--only S8,S9`: {len(results['reps'])} "
        f"repetition(s), {meta['config']['workers']} workers, commit `{meta['commit']}`, "
        f"Python {meta['python']}, {meta['started']} → {meta['finished']} (UTC); load average "
        f"before → after each repetition: {loads}.",
        "",
        table([g for g in results["goals"] if g["id"] in ("S8", "S9")]),
        "",
    ]
    for image in images:
        lines += [f"![{image.stem}]({image.relative_to(DOC.parent).as_posix()})", ""]
    lines.append(PAYLOAD_END)
    _replace_block(PAYLOAD_BEGIN, PAYLOAD_END, "\n".join(lines))


# --------------------------------------------------------------------------- plots


def _merged(encoded: list[str]) -> Any:
    hist = new_histogram()
    for text in encoded:
        if text:
            hist.add(decode(text))
    return hist


def _cdf_points(hist: Any) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    if hist.get_total_count() == 0:
        return xs, ys
    for item in hist.get_recorded_iterator():
        xs.append(max(item.value_iterated_to, 1) / 1000.0)
        ys.append(100.0 * item.total_count_to_this_value / hist.get_total_count())
    # Start at 0 % so that a histogram with a single value (all timed out) still draws.
    return [xs[0], *xs], [0.0, *ys]


def _color(name: str) -> str:
    return COLORS.get(name, "#333333")


def _cdf_axes(ax: Any, title: str, xlabel: str = "latency (ms, log)") -> None:
    ax.set_xscale("log")
    ax.set_ylim(0, 100.5)
    ax.axhline(99, color="#999999", lw=0.6, ls=":")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("requests at or below (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", lw=0.3, alpha=0.5)
    ax.legend(fontsize=8, loc="lower right")


def plots(results: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    reps = results["reps"]
    n_reps = len(reps)
    made: list[Path] = []
    servers = ["crunch", *results["meta"]["config"]["peers"]]
    s2_extra = list(results["meta"]["config"].get("s2_extra", []))
    s2_servers = servers + s2_extra

    def save(fig: Any, name: str) -> None:
        path = out / name
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path)

    note = f"merged over {n_reps} repetition(s)"

    # S1: dispatch round trip CDFs.
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = {"ppe": "ProcessPoolExecutor", "anyio": "anyio.to_process", "crunch": "crunch Pool"}
    for key, label in labels.items():
        hist = _merged([r["S1"][key]["hdr"] for r in reps])
        xs, ys = _cdf_points(hist)
        ax.step([x * 1000 for x in xs], ys, where="post", label=label, color=_color(key))
    _cdf_axes(ax, f"S1 noop round trip through the pool ({note})", "round trip (µs, log)")
    save(fig, "bench-s1-dispatch-cdf.png")

    # S2: goodput vs offered load.
    fig, ax = plt.subplots(figsize=(7, 4.5))
    cap = [r["S2"]["crunch"].get("capacity_here", r["S2"]["crunch"]["capacity"]) for r in reps]
    capacity = sorted(cap)[len(cap) // 2]
    top = 0.0
    for name in s2_servers:
        by_mult: dict[float, list[tuple[float, float]]] = {}
        for r in reps:
            for step in r["S2"].get(name, {}).get("steps", []):
                by_mult.setdefault(step["mult"], []).append((step["rate"], step["goodput"]))
        if not by_mult:
            continue
        xs, meds, lows, highs = [], [], [], []
        for mult in sorted(by_mult):
            pts = by_mult[mult]
            good = sorted(g for _, g in pts)
            xs.append(sorted(o for o, _ in pts)[len(pts) // 2])
            meds.append(good[len(good) // 2])
            lows.append(meds[-1] - good[0])
            highs.append(good[-1] - meds[-1])
        top = max(top, *xs)
        style = "--" if name in s2_extra else "-"
        ax.errorbar(
            xs,
            meds,
            yerr=[lows, highs],
            marker="o",
            capsize=3,
            label=name,
            color=_color(name),
            ls=style,
        )
    ax.plot([0, top], [0, top], color="#bbbbbb", lw=0.8, ls="--", label="offered")
    ax.axhline(capacity, color="#555555", lw=0.8, ls=":", label="workers / inline task time")
    ax.axhline(0.9 * capacity, color="#d62728", lw=0.6, ls=":", label="goal: 0.9 x that")
    ax.set_xlabel("offered load (req/s of ~50 ms spin)")
    ax.set_ylabel("goodput (200 answers/s)")
    ax.set_title(f"S2 goodput vs offered load (median, min-max of {n_reps})", fontsize=10)
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(fontsize=8)
    save(fig, "bench-s2-goodput.png")

    # S2: latency CDF per step.
    mults = sorted({s["mult"] for r in reps for s in r["S2"]["crunch"]["steps"]})
    fig, axes = plt.subplots(1, len(mults), figsize=(4 * len(mults), 4), squeeze=False)
    for ax, mult in zip(axes[0], mults, strict=True):
        for name in s2_servers:
            encoded = [
                s["latency_ms"].get("hdr", "")
                for r in reps
                for s in r["S2"].get(name, {}).get("steps", [])
                if s["mult"] == mult
            ]
            xs, ys = _cdf_points(_merged(encoded))
            if xs:
                style = "--" if name in s2_extra else "-"
                ax.step(xs, ys, where="post", label=name, color=_color(name), ls=style)
        timeout = results["meta"]["config"]["timeout"]
        _cdf_axes(
            ax, f"S2 at {mult:g} x capacity: every request\n(503s too; timeouts at {timeout:g} s)"
        )
    save(fig, "bench-s2-latency-cdf.png")

    # S3: /healthz under saturation.
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in servers:
        hist = _merged([r["S3"][name]["probe"]["latency_ms"].get("hdr", "") for r in reps])
        xs, ys = _cdf_points(hist)
        if xs:
            ax.step(xs, ys, where="post", label=name, color=_color(name))
    probe = _merged([r["selftest"]["probe"]["latency_ms"].get("hdr", "") for r in reps])
    xs, ys = _cdf_points(probe)
    ax.step(xs, ys, where="post", label="generator alone", color=_color("trivial"), ls="--")
    ax.axvline(2.0, color="#d62728", lw=0.6, ls=":")
    _cdf_axes(ax, f"S3 /healthz latency while the workers are saturated ({note})")
    save(fig, "bench-s3-healthz-cdf.png")

    # S4: head-of-line blocking.
    fig, ax = plt.subplots(figsize=(7, 3.5))
    big = sorted(r["sizes"]["big"]["ms"] / 1000 for r in reps)[n_reps // 2]
    for i, name in enumerate(servers):
        vals = sorted(r["S4"][name]["small_s"] for r in reps)
        med = vals[len(vals) // 2]
        ax.barh(i, med, color=_color(name))
        ax.errorbar(med, i, xerr=[[med - vals[0]], [vals[-1] - med]], color="black", capsize=3)
        ax.text(vals[-1] * 1.15, i, f"{med:.2f} s", va="center", fontsize=8)
    ax.axvline(1.5 * big, color="#d62728", lw=0.8, ls=":", label="1.5 x one big task (inline time)")
    ax.set_yticks(range(len(servers)), servers)
    ax.set_xscale("log")
    ax.set_xlabel("small batch done after (s, log)")
    ax.set_title("S4 small batch (4 x 1 ms) sent 0.1 s after a big one (40 x 200 ms)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, axis="x", which="both", lw=0.3, alpha=0.5)
    save(fig, "bench-s4-head-of-line.png")

    # S5: overload latency CDFs by status, and goodput.
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    for name in servers:
        for status, style in (("200", "-"), ("503", "--")):
            encoded = [
                r["S5"][name]["latency_ms_by_status"].get(status, {}).get("hdr", "") for r in reps
            ]
            xs, ys = _cdf_points(_merged(encoded))
            if xs:
                ax1.step(
                    xs, ys, where="post", ls=style, color=_color(name), label=f"{name} {status}"
                )
    ax1.axvline(10.0, color="#d62728", lw=0.6, ls=":")
    _cdf_axes(ax1, f"S5 latency at 5 x capacity, by status ({note})")
    goods = []
    for name in servers:
        vals = sorted(r["S5"][name]["goodput"] for r in reps)
        goods.append(vals[len(vals) // 2])
        timeouts = sorted(r["S5"][name]["timeouts"] for r in reps)[n_reps // 2]
        ax2.text(len(goods) - 1, goods[-1], f"{timeouts} t/o", ha="center", va="bottom", fontsize=7)
    ax2.bar(range(len(servers)), goods, color=[_color(s) for s in servers])
    ax2.axhline(capacity, color="#555555", lw=0.8, ls=":", label="capacity")
    ax2.set_xticks(range(len(servers)), servers, rotation=30, fontsize=8)
    ax2.set_ylabel("goodput (200/s)")
    ax2.set_title("S5 goodput (median) and timeouts", fontsize=10)
    ax2.legend(fontsize=8)
    save(fig, "bench-s5-overload.png")

    # S6: HTTP overhead.
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    names = ["trivial", "bare", "crunch"]
    labels6 = {"trivial": "generator alone", "bare": "bare Starlette", "crunch": "crunch noop"}
    rps = []
    for name in names:
        vals = sorted(r["S6"][name]["rps"] for r in reps)
        rps.append(vals[len(vals) // 2])
        xs, ys = _cdf_points(_merged([r["S6"][name]["latency_ms"].get("hdr", "") for r in reps]))
        ax2.step(xs, ys, where="post", label=labels6[name], color=_color(name))
    ax1.bar(range(3), rps, color=[_color(n) for n in names])
    for i, v in enumerate(rps):
        ax1.text(i, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    ax1.set_xticks(range(3), [labels6[n] for n in names], fontsize=8)
    ax1.set_ylabel("requests/s (closed loop)")
    ax1.set_title("S6 throughput (median)", fontsize=10)
    _cdf_axes(ax2, "S6 latency (closed loop)")
    save(fig, "bench-s6-http.png")

    if all("S10" in r for r in reps):
        plot_s10(plt, reps, note, save)

    # S7: memory.
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.38
    for j, (state, label) in enumerate((("idle", "idle"), ("load", "under S2 load"))):
        vals = []
        for name in servers:
            got = sorted(r["S2"][name]["memory"].get(state, {}).get("pss_mb", 0.0) for r in reps)
            vals.append(got[len(got) // 2])
        xs = [i + (j - 0.5) * width for i in range(len(servers))]
        ax.bar(
            xs,
            vals,
            width,
            label=label,
            alpha=0.85 if j else 0.5,
            color=[_color(s) for s in servers],
        )
        for x, v in zip(xs, vals, strict=True):
            ax.text(x, v, f"{v:.0f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(servers)), servers)
    ax.set_ylabel("PSS of the process tree (MB)")
    ax.set_title("S7 memory, idle (light) and under load (dark); median", fontsize=10)
    save(fig, "bench-s7-memory.png")
    if all("S8" in r and "S9" in r for r in reps):
        made += payload_plots(reps, out)
    return made


def payload_plots(reps: list[dict[str, Any]], out: Path) -> list[Path]:
    """S8: round-trip CDFs of 1 MiB each way; S9: the example's goodput vs offered load."""
    import matplotlib.pyplot as plt

    made: list[Path] = []
    note = f"merged over {len(reps)} repetition(s)"
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (("ppe", "ProcessPoolExecutor"), ("crunch", "crunch Pool")):
        xs, ys = _cdf_points(_merged([r["S8"][key]["hdr"] for r in reps]))
        ax.step(xs, ys, where="post", label=label, color=_color(key))
    _cdf_axes(ax, f"S8 1 MiB in + 1 MiB out through the pool ({note})", "round trip (ms, log)")
    path = out / "bench-s8-bytes-cdf.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    made.append(path)

    fig, ax = plt.subplots(figsize=(7, 4))
    capacity = sorted(r["S9"]["capacity_here"] for r in reps)[len(reps) // 2]
    points = [(s["rate"], s["goodput"]) for r in reps for s in r["S9"]["steps"]]
    top = max([capacity, *(max(p) for p in points)]) * 1.15
    ax.plot([0, top], [0, top], ls=":", color="#999999", label="goodput = offered")
    ax.axhline(capacity, ls="--", color="#555555", label="workers / inline time")
    ax.axhline(0.9 * capacity, ls=":", color="#d62728", alpha=0.6, label="goal: 0.9 x")
    paces = sorted(r["S9"].get("pace_capacity", math.nan) for r in reps)
    if not math.isnan(paces[len(paces) // 2]):
        pace = paces[len(paces) // 2]
        ax.axhline(pace, ls="-.", color="#1f77b4", label="workers / their own run time")
    ax.scatter(*zip(*points, strict=True), color=_color("crunch"), label="crunch", zorder=3)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("offered (req/s)")
    ax.set_ylabel("goodput (200s/s)")
    ax.set_title(f"S9 thumbnails example over HTTP ({note})", fontsize=10)
    ax.legend(fontsize=8)
    path = out / "bench-s9-example-goodput.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    made.append(path)
    return made


def plot_s10(plt: Any, reps: list[dict[str, Any]], note: str, save: Any) -> None:
    """S10: goodput in the storm against each server's own peak, /healthz, refusals."""
    names = list(dict.fromkeys(name for r in reps for name in r["S10"]))
    fig, (ax1, ax2, ax3) = plt.subplots(
        1, 3, figsize=(14, 4.2), gridspec_kw={"width_ratios": [1.2, 1.6, 1]}
    )
    for i, name in enumerate(names):
        ratios = sorted(
            r["S10"][name]["goodput"] / r["S10"][name]["base_goodput"]
            for r in reps
            if name in r["S10"] and r["S10"][name]["base_goodput"]
        )
        if not ratios:
            continue
        med = ratios[len(ratios) // 2]
        ax1.bar(i, med, color=_color(name))
        ax1.errorbar(i, med, yerr=[[med - ratios[0]], [ratios[-1] - med]], color="black", capsize=3)
        ax1.text(i, ratios[-1], f"{med:.2f}", ha="center", va="bottom", fontsize=8)
        hist = _merged([r["S10"][name]["probe"]["latency_ms"].get("hdr", "") for r in reps])
        xs, ys = _cdf_points(hist)
        if xs:
            ax2.step(xs, ys, where="post", label=name, color=_color(name))
        rej = sorted(r["S10"][name]["rejections_per_s"] for r in reps if name in r["S10"])
        ax3.bar(i, max(rej[len(rej) // 2], 0.1), color=_color(name))
        ax3.text(
            i,
            max(rej[len(rej) // 2], 0.1),
            f"{rej[len(rej) // 2]:.0f}",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax1.axhline(0.8, color="#d62728", lw=0.6, ls=":", label="goal: 0.8 x")
    ax1.set_xticks(range(len(names)), names, rotation=30, fontsize=8)
    ax1.set_ylabel("storm goodput / own peak without 503s")
    ax1.set_title("S10 goodput in a retry storm (median, min-max)", fontsize=10)
    ax1.legend(fontsize=8)
    ax2.axvline(10.0, color="#d62728", lw=0.6, ls=":")
    _cdf_axes(ax2, f"S10 /healthz during the storm ({note})")
    ax3.set_yscale("log")
    ax3.set_xticks(range(len(names)), names, rotation=30, fontsize=8)
    ax3.set_ylabel("503 answers per second (log)")
    ax3.set_title("S10 refusals per second (median)", fontsize=10)
    save(fig, "bench-s10-storm.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument(
        "results", nargs="?", type=Path, default=ROOT / "bench" / "results" / "full.json"
    )
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    write(results)
    print(table(results["goals"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
