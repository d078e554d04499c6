"""``report.html``: the conversation, the scene over time, and a latency waterfall per turn.

One self-contained file (inline CSS and SVG), so it opens in a browser with no network.
"""

from __future__ import annotations

import html
from typing import Any

STAGES = (
    ("vad_end_ms", "VAD end of turn", "#8e9aaf"),
    ("asr_final_ms", "ASR final", "#5a8dee"),
    ("llm_request_ms", "LLM request", "#9b59b6"),
    ("first_token_ms", "first token", "#e67e22"),
    ("first_chunk_ms", "first chunk", "#f1c40f"),
    ("first_audio_ms", "first audio", "#27ae60"),
)


def waterfall(turn: dict[str, Any], scale_ms: float, width: int = 640) -> str:
    """An SVG bar per stage, from the previous stage's time to this one's (ms after the end of speech)."""
    rows, previous, y = [], 0.0, 0
    px = width / max(scale_ms, 1.0)
    for key, label, colour in STAGES:
        value = turn.get(key)
        if value is None:
            continue
        start, end = min(previous, value), value
        rows.append(
            f'<rect x="{150 + start * px:.1f}" y="{y}" width="{max((end - start) * px, 1.5):.1f}" height="14" '
            f'fill="{colour}"><title>{label}: {value:.0f} ms</title></rect>'
            f'<text x="0" y="{y + 11}" font-size="11">{label}</text>'
            f'<text x="{155 + end * px:.1f}" y="{y + 11}" font-size="11">{value:.0f} ms</text>'
        )
        previous, y = max(previous, value), y + 18
    return f'<svg width="{width + 220}" height="{y + 4}" xmlns="http://www.w3.org/2000/svg">{"".join(rows)}</svg>'


def render(title: str, lines: list[tuple[str, str, str]], scenes: list[tuple[float, str]],
           turns: list[dict[str, Any]], *, facts: dict[str, Any] | None = None,
           problems: list[str] | None = None) -> str:
    """``lines`` are (time, who, text); ``scenes`` (frame time, description); ``turns`` turn_metrics records;
    ``facts`` what ran (``report.run_facts``); ``problems`` one line per kind of error or restart."""
    e = html.escape
    flat = {**{k: v for k, v in (facts or {}).items() if k != "versions"}, **(facts or {}).get("versions", {})}
    run = "".join(f"<tr><td>{e(str(k))}</td><td>{e(str(v))}</td></tr>" for k, v in flat.items() if v is not None)
    trouble = ("<ul class=\"problems\">" + "".join(f"<li>{e(p)}</li>" for p in problems) + "</ul>"
               if problems else "<p>None.</p>")
    scale = max([t.get("first_audio_ms") or 0 for t in turns] + [1000.0])
    talk = "".join(f'<p class="{e(who.lower())}"><span>{e(t)}</span> <b>{e(who)}</b> {e(text)}</p>'
                   for t, who, text in lines)
    seen = "".join(f"<tr><td>{t:.1f} s</td><td>{e(text)}</td></tr>" for t, text in scenes)
    bars = "".join(
        f"<h3>Turn {t['turn']}: first audio {t['first_audio_ms'] or 0:.0f} ms after the end of speech</h3>"
        + waterfall(t, scale) for t in turns
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{e(title)}</title><style>
body{{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}} p span{{color:#888;font-size:.85em}}
p.you b{{color:#1f6feb}} p.assistant b{{color:#1a7f37}} p.camera b{{color:#8250df}} p.look b{{color:#8250df}}
p.error b,p.restart b,ul.problems{{color:#cf222e}}
table{{border-collapse:collapse}} td{{border-bottom:1px solid #ddd;padding:3px 8px;vertical-align:top}}
</style></head><body><h1>{e(title)}</h1><h2>Problems</h2>{trouble}<h2>Run</h2><table>{run}</table>
<h2>Conversation</h2>{talk or "<p>(nothing said)</p>"}
<h2>Latency per turn</h2><p>Milliseconds after the end of the user's speech.</p>{bars or "<p>(no turns)</p>"}
<h2>What the camera saw</h2><table>{seen}</table></body></html>
"""
