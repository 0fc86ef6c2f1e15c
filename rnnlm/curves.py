"""curves.png: training/validation loss and validation bits per character by epoch."""
from __future__ import annotations

from pathlib import Path


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display needed; never opens a window
    import matplotlib.pyplot as plt

    from rnnlm.atomic import write_atomic

    epochs = [h["epoch"] for h in history]
    has_bpc = any("val_bpc" in h for h in history)
    fig, axes = plt.subplots(1, 2 if has_bpc else 1, figsize=(10 if has_bpc else 5, 3.6),
                             squeeze=False)
    loss_ax = axes[0][0]
    loss_ax.plot(epochs, [h["loss"] for h in history], "o-", label="training loss")
    if has_bpc:
        loss_ax.plot(epochs, [h.get("val_loss") for h in history], "o-", label="validation loss")
        axes[0][1].plot(epochs, [h.get("val_bpc") for h in history], "o-", color="C2")
        axes[0][1].set(xlabel="epoch", ylabel="bits per character", title="validation bpc")
        axes[0][1].grid(alpha=0.3)
    loss_ax.set(xlabel="epoch", ylabel="nats per token", title="loss")
    loss_ax.grid(alpha=0.3)
    loss_ax.legend()
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)
