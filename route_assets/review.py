"""The campaign review sheet: one self-contained HTML page per campaign that shows, for every
ad set, the candidates with their verdicts and flaw boxes, the edit before and after, every
placement file and video, and what it all cost. Operators would rather look than read."""

import html
import posixpath
from collections.abc import Mapping
from typing import Any

STYLE = """body{font:14px system-ui,sans-serif;margin:24px;color:#222}
h1{margin:0 0 4px}h2{margin:32px 0 8px;border-top:1px solid #ddd;padding-top:16px}
.row{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
figure{margin:0;max-width:260px}figure img,figure video{max-width:260px;max-height:320px;
display:block;border:1px solid #ccc}figcaption{font-size:12px;color:#555;margin-top:4px}
.accept{color:#167d3a}.edit{color:#a66a00}.regenerate{color:#b3261e}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}"""


def _src(page_key: str, key: str) -> str:
    """A store key as a path relative to the page, so the sheet works from any store root."""
    return posixpath.relpath(key, posixpath.dirname(page_key))


def _figure(src: str, caption: str, *, video: bool = False, poster: str | None = None) -> str:
    if video:
        media = (
            f'<video controls preload="metadata" src="{html.escape(src)}"'
            + (f' poster="{html.escape(poster)}"' if poster else "")
            + "></video>"
        )
    else:
        media = f'<img loading="lazy" src="{html.escape(src)}" alt="{html.escape(caption)}">'
    return f"<figure>{media}<figcaption>{caption}</figcaption></figure>"


def _ad_set(page: str, name: str, manifests: Mapping[str, Mapping[str, Any]]) -> list[str]:
    out = [f'<h2 id="{html.escape(name)}">{html.escape(name)}</h2>']
    cls = manifests.get("flaw_classification")
    if cls:
        figures = []
        for c in cls["candidates"]:
            flaws = ", ".join(f["kind"] for f in c["flaws"]) or "no flaws"
            chosen = " (chosen)" if c["index"] == cls.get("chosen") else ""
            caption = (
                f'<span class="{c["verdict"]}">#{c["index"]} {c["verdict"]}{chosen}</span>'
                f" · {html.escape(flaws)}"
            )
            figures.append(_figure(_src(page, c["preview_blob"]), caption))
        out += ["<h3>Candidates</h3>", '<div class="row">', *figures, "</div>"]
    edit = manifests.get("surgical_edit")
    if edit:
        applied = ", ".join(e["edit"] for e in edit["edits"] if e["accepted"]) or "no edit needed"
        out += [
            "<h3>Edit</h3>",
            '<div class="row">',
            _figure(_src(page, edit["source_blob"]), "before"),
            _figure(_src(page, edit["master_file"]), f"after: {html.escape(applied)}"),
            "</div>",
        ]
    resize = manifests.get("qa_resize")
    posters: dict[str, str] = {}
    if resize:
        figures = []
        for r in resize["renditions"]:
            posters[r["placement"]] = _src(page, r["file"])
            figures.append(
                _figure(
                    posters[r["placement"]],
                    f"{r['placement']} · {r['width']}x{r['height']} · {r['bytes'] // 1024} KB",
                )
            )
        out += ["<h3>Placements</h3>", '<div class="row">', *figures, "</div>"]
    vid = manifests.get("video_expansion")
    if vid and vid.get("clips"):
        figures = [
            _figure(
                _src(page, c["file"]),
                f"{c['placement']} · {c['seconds']:.1f}s",
                video=True,
                poster=posters.get(c["placement"]),
            )
            for c in vid["clips"]
        ]
        out += ["<h3>Videos</h3>", '<div class="row">', *figures, "</div>"]
    return out


def review_sheet(
    *,
    campaign: str,
    page_key: str,
    ad_sets: Mapping[str, Mapping[str, Mapping[str, Any]]],
    cost_rows_by_ad_set: list[tuple[str, float]],
    spent_usd: float,
) -> str:
    """The HTML page. `ad_sets` maps ad-set id -> stage -> manifest; `page_key` is where the page
    is stored (media links are relative to it)."""
    cost_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>${v:.4f}</td></tr>" for k, v in cost_rows_by_ad_set
    )
    body = [
        f"<h1>{html.escape(campaign)}</h1>",
        f"<p>{len(ad_sets)} ad sets · ${spent_usd:.4f} spent</p>",
        f"<table><tr><th>ad set</th><th>spend</th></tr>{cost_rows}</table>",
    ]
    for name in sorted(ad_sets):
        body += _ad_set(page_key, name, ad_sets[name])
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(campaign)} review</title><style>{STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )
