"""Freeze ipywidgets outputs into static HTML for the course site.

A static page cannot run the kernel behind a widget, and loading the widget manager
from a CDN would make the site depend on the internet. So each widget view is replaced
by HTML drawn from the widget state that nbclient stored at the end of the run: the
dashboard's HTML panes show their last frame, buttons and menus show as disabled
controls, and anything unknown says plainly that it is interactive only in JupyterLab.
"""

from __future__ import annotations

import html
from typing import Any

VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"
CLOSED_CLASS = "course-closed-widget"
CLOSED_TEXT = "(this widget was closed by a later cell, so Run All leaves it blank)"
NOTE = "A snapshot of this widget at the end of the run; open the notebook in JupyterLab to use it."


def _model_id(ref: Any) -> str | None:
    return ref[len("IPY_MODEL_") :] if isinstance(ref, str) and ref.startswith("IPY_MODEL_") else None


def _outputs_html(outputs: list[dict]) -> str:
    parts = []
    for out in outputs:
        data = out.get("data", {})
        if out.get("output_type") == "stream":
            parts.append(f"<pre>{html.escape(out.get('text', ''))}</pre>")
        elif "text/html" in data:
            parts.append("".join(data["text/html"]) if isinstance(data["text/html"], list) else data["text/html"])
        elif "image/png" in data:
            parts.append(f'<img alt="plot" src="data:image/png;base64,{data["image/png"]}">')
        elif "text/plain" in data:
            text = data["text/plain"]
            parts.append(f"<pre>{html.escape(''.join(text) if isinstance(text, list) else text)}</pre>")
    return "".join(parts)


def render_model(model_id: str, state: dict[str, dict], depth: int = 0) -> str:
    """HTML for one widget model and its children (depth-limited against cycles)."""
    model = state.get(model_id)
    if model is None or depth > 30:
        return ""
    name = model.get("model_name", "")
    s = model.get("state", {})
    label = html.escape(str(s.get("description", "") or ""))
    if name.endswith("BoxModel") or name in ("AccordionModel", "TabModel", "StackModel"):
        kind = "hbox" if name == "HBoxModel" else "vbox"
        children = "".join(render_model(m, state, depth + 1) for m in map(_model_id, s.get("children", [])) if m)
        return f'<div class="course-widget-{kind}">{children}</div>'
    if name in ("HTMLModel", "HTMLMathModel"):
        prefix = f"<span class='course-widget-label'>{label}</span> " if label else ""
        return f'<div class="course-widget-html">{prefix}{s.get("value", "")}</div>'
    if name == "LabelModel":
        return f'<span class="course-widget-label">{html.escape(str(s.get("value", "")))}</span>'
    if name == "ButtonModel":
        return f'<button type="button" disabled>{label}</button>'
    if name in ("DropdownModel", "SelectModel", "RadioButtonsModel", "ToggleButtonsModel"):
        options, index = s.get("_options_labels", []), s.get("index")
        chosen = options[index] if isinstance(index, int) and 0 <= index < len(options) else ""
        return f'<span class="course-widget-choice">{label} <b>{html.escape(str(chosen))}</b></span>'
    if name == "OutputModel":
        return f'<div class="course-widget-output">{_outputs_html(s.get("outputs", []))}</div>'
    if "value" in s and not isinstance(s["value"], (dict, list)):
        return f'<span class="course-widget-value">{label} <b>{html.escape(str(s["value"]))}</b></span>'
    if name.endswith("LayoutModel") or name.endswith("StyleModel"):
        return ""
    return f'<span class="course-widget-unknown">[{html.escape(name or "widget")}: interactive in JupyterLab]</span>'


def freeze_widgets(nb) -> int:
    """Replace every widget view in ``nb`` by static HTML; return how many were frozen."""
    state = nb.metadata.get("widgets", {}).get(STATE, {}).get("state", {})
    frozen = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if VIEW not in data:
                continue
            view = data.pop(VIEW)
            model_id = view.get("model_id") if isinstance(view, dict) else None
            body = render_model(model_id, state) if isinstance(model_id, str) and model_id in state else ""
            if body:
                data["text/html"] = f'<div class="course-static-widget" title="{html.escape(NOTE)}">{body}</div>'
                data.pop("text/plain", None)
                frozen += 1
            else:  # closed by a later cell: say so, visibly (the site check flags it)
                data.pop("text/plain", None)
                data["text/html"] = f'<div class="{CLOSED_CLASS}">{CLOSED_TEXT}</div>'

    nb.metadata.pop("widgets", None)
    return frozen
