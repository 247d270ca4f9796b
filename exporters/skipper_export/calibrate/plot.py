"""The per-layer agreement table as a PNG (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path


def agreement_png(path: Path, raw: list[float], exits: list[tuple[int, float, float]], title: str) -> None:
    """raw: training-free agreement after each layer 0..L (0 = embeddings); exits: (layer,
    adapted agreement, training-free agreement) per exit head."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.plot(range(len(raw)), raw, marker=".", label="final norm + head (training-free)")
    if exits:
        ax.plot([e[0] for e in exits], [e[1] for e in exits], marker="o",
                label="exit adapter + draft vocabulary (calibrated)")
    ax.set_xlabel("layers run")
    ax.set_ylabel("top-1 agreement with the full model")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
