"""Write the measured part of docs/e2e.md (between its e2e-results markers) and the
autoscaling plot docs/img/e2e-autoscale.png from .cache/e2e/results/*.json."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- e2e-results:begin -->", "<!-- e2e-results:end -->"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def fmt(v: object, unit: str = " s") -> str:
    if isinstance(v, float):
        return f"{v:.1f}{unit}"
    if isinstance(v, int):
        return f"{v}{unit}"
    return "n/a"


def plot(autoscale: dict[str, Any], out: Path) -> bool:
    timeline = autoscale.get("timeline") or []
    if not timeline:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] for s in timeline]
    fig, ax1 = plt.subplots(figsize=(9, 4.5))
    ax1.step(t, [s.get("replicas", 0) for s in timeline], where="post", label="replicas (spec)")
    ax1.step(t, [s.get("ready", 0) for s in timeline], where="post", label="ready", linestyle="--")
    ax1.set_xlabel("seconds since load start")
    ax1.set_ylabel("pods")
    ax2 = ax1.twinx()
    ax2.plot(
        t, [s.get("saturation") for s in timeline], color="tab:red", label="avg crunch_saturation"
    )
    ax2.plot(
        t,
        [s.get("hpa_metric") for s in timeline],
        color="tab:orange",
        linestyle=":",
        label="HPA metric (30 s avg)",
    )
    ax2.axhline(0.7, color="grey", linewidth=0.8, linestyle="-.")
    ax2.set_ylabel("saturation")
    for x, label in (
        (autoscale.get("scale_decision_s"), "scale-up"),
        (autoscale.get("new_pods_ready_s"), "ready"),
        (autoscale.get("load_stopped_s"), "load stops"),
        (autoscale.get("scaled_down_s"), "at minimum"),
    ):
        if isinstance(x, float | int):
            ax1.axvline(x, color="black", linewidth=0.6)
            ax1.text(x, ax1.get_ylim()[1], label, rotation=90, va="top", ha="right", fontsize=8)
    lines = ax1.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax1.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="center right", fontsize=8)
    ax1.set_title("crunch-web under open-loop load through the Ingress (kind, 2 CPUs)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def render(results: Path, docs: Path) -> str:
    timings = load(results / "timings.json")
    auto = load(results / "autoscale.json")
    roll = load(results / "rollout.json")
    kill = load(results / "pod_delete.json")
    busy = load(results / "busy_aware.json")
    busy_503 = load(results / "busy_aware_timeout.json")
    has_plot = plot(auto, docs / "img" / "e2e-autoscale.png")
    load_ = auto.get("load", {})
    lines = [
        BEGIN,
        f"Last run: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} "
        "(written by scripts/e2e/report.py).",
        "",
        "| step of `make e2e` | seconds |",
        "|---|---|",
    ]
    for key in (
        "tools",
        "go_builds",
        "cluster_images",
        "node_image",
        "app_image",
        "cluster_up",
        "load_app_image",
        "stack",
        "deploy",
        "tests",
        "total",
    ):
        lines.append(f"| {key} | {timings.get(key, 'n/a')} |")
    lines += [
        "",
        "Autoscaling (test 3):",
        "",
        "| measure | value | goal (SPEC K1) |",
        "|---|---|---|",
        f"| load start → HPA scale-up decision | {fmt(auto.get('scale_decision_s'))} | ≤ 30 s |",
        f"| load start → new pods Ready | {fmt(auto.get('new_pods_ready_s'))} | ≤ 60 s |",
        f"| replicas min → peak | {auto.get('min_replicas', 'n/a')} → "
        f"{auto.get('peak_replicas', 'n/a')} | |",
        f"| load stop → back at the minimum | {fmt(auto.get('scale_down_after_load_s'))} | |",
        f"| offered load | {fmt(auto.get('rate_rps'), ' req/s')} "
        f"of spin({auto.get('spin_n', '?')}) "
        f"({fmt((auto.get('run_s') or 0) * 1000, ' ms')} each) | |",
        f"| answers | {load_.get('by_status', {})}, honest 503 (Retry-After): "
        f"{load_.get('honest_503', 'n/a')}, failed: {len(auto.get('failures', []))} | 0 failed |",
        "",
    ]
    if roll:
        statuses = [x.get("by_status") for x in roll.get("loads", [])]
        lines.append(
            f"Rolling update (test 4): `helm upgrade` took {fmt(roll.get('rollout_s'))}; "
            f"answers {statuses}; failed: {len(roll.get('failures', []))}."
        )
    if kill:
        lines.append(
            f"Pod deletion (test 5): `kubectl delete pod` took {fmt(kill.get('deleted_s'))}, "
            f"{kill.get('inflight_at_delete', 'n/a')} requests in flight during the deletion "
            f"(all pods); answers {kill.get('load', {}).get('by_status')}; "
            f"failed: {len(kill.get('failures', []))}."
        )
    if busy:
        lines.append(
            f"Busy-aware balancer (test 9): {len(busy.get('long_latencies_s', []))} requests "
            f"of spin({busy.get('spin_n', '?')}) took {busy.get('long_latencies_s')} s, one per "
            f"pod; the extra request waited in HAProxy and answered 200 after "
            f"{fmt(busy.get('extra_latency_s'))}; largest pod queue depth seen: "
            f"{busy.get('max_pod_queue_depth', 'n/a')} ({busy.get('samples', 0)} samples)."
        )
    if busy_503:
        lines.append(
            f"Past `timeout queue` ({busy_503.get('queue_timeout_s')} s): 503 with Retry-After "
            f"after {fmt(busy_503.get('rejected_after_s'))}."
        )
    if has_plot:
        lines += ["", "![replicas and saturation during test 3](img/e2e-autoscale.png)"]
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="the docs/ directory")
    args = ap.parse_args()
    doc = args.out / "e2e.md"
    text = doc.read_text()
    block = render(args.results, args.out)
    new = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    doc.write_text(new)


if __name__ == "__main__":
    main()
