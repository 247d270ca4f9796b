"""The calibration's agreement figure as a PNG (matplotlib, headless): top-1 agreement by layers run
and, once trained, the feature drafter's held-out acceptance per draft position."""

from __future__ import annotations

from pathlib import Path


def agreement_png(path: Path, raw: list[float], exits: list[tuple[int, float, float]], title: str,
                  drafter: dict | None = None, num_layers: int | None = None) -> None:
    """raw: training-free agreement after each layer 0..L (0 = embeddings); exits: (layer,
    adapted agreement, training-free agreement) per exit head; drafter: the feature drafter's
    ``acceptance_per_position`` (share of held-out rounds accepting at least s drafts),
    ``mean_accepted_per_round``, ``draft_cost`` (fraction of a plain step) and ``estimated_speedup``
    (per draft length), drawn on the left at its cost in layers and as bars on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if drafter:
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4), dpi=120, gridspec_kw={"width_ratios": [3, 2]})
    else:
        fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.plot(range(len(raw)), raw, marker=".", label="final norm + head (training-free)")
    if exits:
        ax.plot([e[0] for e in exits], [e[1] for e in exits], marker="o",
                label="exit adapter + draft vocabulary (calibrated)")
    if drafter:
        layers = num_layers if num_layers else len(raw) - 1
        acc = drafter["acceptance_per_position"]
        ax.plot([drafter["draft_cost"] * layers], [acc[0] if acc else 0.0], marker="*", markersize=12,
                linestyle="none", label="feature drafter, first draft (x: its cost in layers)")
        positions = list(range(1, len(acc) + 1))
        bx.bar(positions, acc, color="tab:green")
        for x, a in zip(positions, acc):
            bx.text(x, a + 0.02, f"{a:.2f}", ha="center", fontsize=8)
        speedups = drafter.get("estimated_speedup") or [1.0]
        bx.set_title(f"feature drafter: {drafter['mean_accepted_per_round']:.2f} accepted/round, "
                     f"cost {drafter['draft_cost']:.3f} step/draft,\nestimated {max(speedups):.2f}x "
                     f"({drafter['rounds']} held-out rounds)", fontsize=9)
        bx.set_xlabel("draft position s")
        bx.set_ylabel("rounds accepting >= s drafts")
        bx.set_xticks(positions)
        bx.set_ylim(0, 1)
        bx.grid(alpha=0.3, axis="y")
    ax.set_xlabel("layers run")
    ax.set_ylabel("top-1 agreement with the full model")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
