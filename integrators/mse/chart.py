"""SVG chart of MSE estimates and intervals across models (for report.html).

One row per estimable model tried (at most ``max_models``, best BIC first), the point
estimate with an approximate normal 95% band (N̂ ± 1.96·SE, clipped at n); the chosen
model is drawn with its reported interval. With strata, one row per stratum plus the total.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def mse_chart_svg(result: dict, max_models: int = 25, title: str | None = None) -> str:
    """Return an SVG string for an mse.json-shaped ``result``."""
    rows = []      # (label, estimate, low, high, chosen)
    n = result.get("observed") or 0
    if result.get("strata"):
        for s in result["strata"]:
            label = ", ".join(f"{k}={v}" for k, v in s["stratum"].items())
            rows.append((label, s["estimate"], s["ci_low"], s["ci_high"], False))
        rows.append(("total", result["estimate"], result["ci_low"], result["ci_high"], True))
    else:
        chosen = result.get("model_r")
        models = [m for m in result.get("models", []) if m.get("estimate") is not None]
        models.sort(key=lambda m: (m["bic"] if m.get("bic") is not None else float("inf")))
        seen = set()
        for m in models[:max_models]:
            if m["model"] in seen:
                continue
            seen.add(m["model"])
            is_chosen = m["model"] == chosen
            if is_chosen:
                lo, hi = result["ci_low"], result["ci_high"]
            else:
                se = m.get("se") or 0.0
                lo, hi = max(n, m["estimate"] - 1.96 * se), m["estimate"] + 1.96 * se
            label = ", ".join(m["terms"]) or "main effects"
            rows.append((label, m["estimate"], lo, hi, is_chosen))
        if chosen not in seen and result.get("estimate") is not None:
            rows.insert(0, (", ".join(result.get("model") or []) or "main effects",
                            result["estimate"], result["ci_low"], result["ci_high"], True))
    fig, ax = plt.subplots(figsize=(7, 0.35 * max(len(rows), 3) + 1.2))
    for i, (label, est, lo, hi, ch) in enumerate(rows):
        y = len(rows) - 1 - i
        colour = "#c0392b" if ch else "#34495e"
        if lo is not None and hi is not None:
            ax.plot([lo, hi], [y, y], color=colour, lw=2 if ch else 1)
        ax.plot([est], [y], "o", color=colour, ms=6 if ch else 4)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows][::-1], fontsize=7)
    ax.axvline(n, color="#999999", ls=":", lw=1)
    ax.set_xlabel("population size N (dotted: observed n)")
    ax.set_title(title or f"MSE: {result.get('method')} — chosen model in red, "
                          f"{result.get('ci_method')} interval", fontsize=9)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    return buf.getvalue()
