"""Small server-rendered SVG time-series charts of one parameter against its limit.

Hand-written rather than a JS chart library: the page then works without JavaScript, prints,
and is testable by reading the SVG; the drawing is a few dozen lines.
"""

from __future__ import annotations

from datetime import date
from html import escape

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 640, 200, 52, 30, 12, 28
COLOURS = {"ok": "#1b7837", "over_tiltaksgrense": "#f1a340", "over_grenseverdi": "#d7191c", "ikkje_vurdert": "#4a6fa5"}


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    step = (hi - lo) / n if hi > lo else 1
    return [lo + i * step for i in range(n + 1)]


def series_svg(rows: list[dict], title: str, unit: str, lo_limit: float | None, hi_limit: float | None) -> str:
    """rows: dicts with provetaken (ISO date), verdi, kvalifikator, status, provepunkt_id."""
    pts = [r for r in rows if r["verdi"] is not None]
    if not pts:
        return f'<p class="nodata">{escape(title)}: ingen talverdiar</p>'
    days = [date.fromisoformat(r["provetaken"]).toordinal() for r in pts]
    values = [r["verdi"] for r in pts]
    limits = [v for v in (lo_limit, hi_limit) if v is not None]
    y_lo = min([0.0, *values, *limits])
    y_hi = max([*values, *limits]) * 1.1 or 1.0
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
        parts.append(f'<line class="limit" x1="{PAD_L}" x2="{W - PAD_R}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" '
                     f'stroke="#d7191c" stroke-dasharray="6 4" stroke-width="1.5"><title>grense {v:g} '
                     f'{escape(unit)}</title></line>')
    for d, r in sorted(zip(days, pts, strict=True), key=lambda x: x[0]):
        colour = COLOURS.get(r["status"], "#333")
        hollow = r["kvalifikator"] in ("<", "i.p.")
        label = f'{r["provepunkt_id"]} {r["provetaken"]}: {r["kvalifikator"] or ""}{r["verdi"]:g} {unit}'
        parts.append(f'<circle class="obs {r["status"]}" cx="{sx(d):.1f}" cy="{sy(r["verdi"]):.1f}" r="3.5" '
                     f'fill="{"white" if hollow else colour}" stroke="{colour}">'
                     f'<title>{escape(label)}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)
