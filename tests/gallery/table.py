"""Print the gallery's table: each model, its source, the largest estimate and SE errors against
the independent reference, and the fit times (first fit in this process after the build, cold;
and a second ``pl.mle`` of the same model, warm).

Run from the repository root: ``PYTHONPATH=tests python tests/gallery/table.py [name ...]``.
"""

from __future__ import annotations

import sys
import time


def main(names: list[str]) -> None:
    from gallery import fits, models

    entries = [models.BY_NAME[n] for n in names] if names else list(models.GALLERY)
    rows = []
    total = time.perf_counter()
    for entry in entries:
        fit = fits.fitted(entry.name, warm=True)
        source = entry.source.split("/examples/")[-1].split("/docs/source/")[-1]
        if fit.error is not None:
            outcome = f"refused: {type(fit.error).__name__}"
            rows.append((entry.name, source, outcome, "", "", f"{fit.fit_time:.1f}", ""))
        elif entry.refusal is not None:
            outcome = f"NOT refused (a defect): converged={fit.result.converged}"
            rows.append((entry.name, source, outcome, "", "", f"{fit.fit_time:.1f}", f"{fit.warm_time:.1f}"))
        else:
            res = fit.result
            if entry.reference is None:
                est, se = "-", "-"
            else:
                est_err, se_err = fits.errors(res, fits.reference(entry.name))
                est, se = f"{max(est_err.values()):.1e}", f"{max(se_err.values()):.1e}"
            state = "converged" if res.converged else "not converged"
            flags = ", ".join(res.diagnostics)
            outcome = state + (f" [{flags}]" if flags else "")
            rows.append((entry.name, source, outcome, est, se, f"{fit.fit_time:.1f}", f"{fit.warm_time:.1f}"))
        print("# " + " | ".join(str(c) for c in rows[-1]), file=sys.stderr, flush=True)
    head = ("model", "source", "outcome", "max rel est err", "max rel SE err", "first fit s", "warm fit s")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    print(f"\ntotal {time.perf_counter() - total:.0f} s (builds, references, cold and warm fits)")


if __name__ == "__main__":
    main(sys.argv[1:])
