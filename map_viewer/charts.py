"""Small server-rendered SVG time-series charts of one parameter against its limit.

Hand-written rather than a JS chart library: the page then works without JavaScript, prints,
and is testable by reading the SVG; the drawing is a few dozen lines.
"""

from __future__ import annotations

from datetime import date
from html import escape

from .i18n import gettext as _

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 640, 200, 52, 30, 12, 28
COLOURS = {"ok": "#1b7837", "over_tiltaksgrense": "#f1a340", "over_grenseverdi": "#d7191c", "ikkje_vurdert": "#4a6fa5"}


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    step = (hi - lo) / n if hi > lo else 1
    return [lo + i * step for i in range(n + 1)]


def series_svg(rows: list[dict], title: str, unit: str, lo_limit: float | None, hi_limit: float | None) -> str:
    """rows: dicts with provetaken (ISO date), verdi, kvalifikator, status, provepunkt_id."""
    pts = [r for r in rows if r["verdi"] is not None]
    if not pts:
        nodata = _("no numeric values")
        return f'<p class="nodata">{escape(title)}: {escape(nodata)}</p>'
    days = [date.fromisoformat(r["provetaken"]).toordinal() for r in pts]
    # "<1" says the value is below the lab's detection limit, not that it is 1: such samples are drawn hollow
    # on the axis (not at the detection limit, which for bacteria lies above a limit of 0) and do not set the scale
    measured = [r["verdi"] for r in pts if r["kvalifikator"] != "<"]
    limits = [v for v in (lo_limit, hi_limit) if v is not None]
    y_lo = min([0.0, *measured, *limits])
    y_hi = max([*measured, *limits, 0.0]) * 1.1 or 1.0
    x_lo, x_hi = min(days), max(days) if max(days) > min(days) else min(days) + 1

    def sx(d: int) -> float:
        return PAD_L + (d - x_lo) / (x_hi - x_lo) * (W - PAD_L - PAD_R)

    def sy(v: float) -> float:
        return H - PAD_B - (v - y_lo) / (y_hi - y_lo) * (H - PAD_T - PAD_B)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" class="chart" '
             f'aria-label="{escape(title)}"><title>{escape(title)} ({escape(unit)})</title>']
    for v in _ticks(y_lo, y_hi):
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" stroke="#e3e3e3"/>'
                     f'<text x="{PAD_L - 4}" y="{sy(v) + 4:.1f}" text-anchor="end" font-size="10">{v:.3g}</text>')
    for d in _ticks(x_lo, x_hi):
        label = date.fromordinal(int(d)).strftime("%m.%Y")
        parts.append(f'<text x="{sx(d):.1f}" y="{H - 8}" text-anchor="middle" font-size="10">{label}</text>')
    for v in limits:
        tip = _("limit %(value)s %(unit)s") % {"value": f"{v:g}", "unit": unit}
        parts.append(f'<line class="limit" x1="{PAD_L}" x2="{W - PAD_R}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" '
                     f'stroke="#d7191c" stroke-dasharray="6 4" stroke-width="1.5"><title>{escape(tip)}</title></line>')
    below_text = _("below the detection limit")
    below_any = False
    for d, r in sorted(zip(days, pts, strict=True), key=lambda x: x[0]):
        colour = COLOURS.get(r["status"], "#333")
        below = r["kvalifikator"] == "<"
        below_any = below_any or below
        hollow = below or r["kvalifikator"] == "i.p."
        value = f'{r["kvalifikator"] or ""}{r["verdi"]:g} {unit}'
        label = f'{r["provepunkt_id"]} {r["provetaken"]}: ' + (
            f"{below_text} ({value})" if below else value)
        parts.append(f'<circle class="obs {r["status"]}{" below" if below else ""}" cx="{sx(d):.1f}" '
                     f'cy="{sy(y_lo if below else r["verdi"]):.1f}" r="3.5" '
                     f'fill="{"white" if hollow else colour}" stroke="{colour}">'
                     f'<title>{escape(label)}</title></circle>')
    parts.append("</svg>")
    measured_text, axis_text, limit_text = (_("measured value"), _("on the axis: below the detection limit"),
                                            _("limit value"))
    key = [f'<span class="key-measured">● {escape(measured_text)}</span>']
    if below_any:
        key.append(f'<span class="key-below">○ {escape(axis_text)}</span>')
    if limits:
        key.append(f'<span class="key-limit">- - - {escape(limit_text)}</span>')
    parts.append(f'<p class="chart-key">{" · ".join(key)}</p>')
    return "".join(parts)
