"""The five course diagrams: checked-in SVGs are what docs/figures/make_figures.py draws,
and each is accessible (title, desc, real text, readable contrast) and names its key facts."""

from __future__ import annotations

import importlib.util
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"
SVG = "{http://www.w3.org/2000/svg}"

KEY_LABELS = {
    "container-stack.svg": [
        "NVIDIA Container Toolkit",
        "nvidia-ctk",
        "nvidia-container-runtime",
        "CDI spec",
        "libcuda.so",
        "/dev/nvidia",
        "CUDA user-space libraries",
        "Host NVIDIA driver",
    ],
    "gpus-cdi-injection.svg": [
        "--gpus",
        "nvidia.com/gpu=all",
        "/dev/nvidiactl",
        "libcuda.so.1",
        "libnvidia-ml.so.1",
        "nvidia-smi",
        "NVIDIA_VISIBLE_DEVICES",
        "NVIDIA_DRIVER_CAPABILITIES",
        "Hooks",
    ],
    "dataparallel-vs-ddp.svg": [
        "scatter",
        "replicate",
        "gather",
        "GPU 0",
        "all-reduce",
        "bucket_cap_mb",
        "1 process per GPU",
    ],
    "caching-allocator.svg": [
        "memory_reserved",
        "memory_allocated",
        "Fragmentation",
        "nvidia-smi",
        "context",
        "empty_cache",
        "expandable_segments",
    ],
    "gpu-sharing.svg": ["MIG", "MPS", "Time-slicing", "Isolation", "Memory limit", "Use case", "cooperative", "MPS v3"],
}


def _load_maker():
    spec = importlib.util.spec_from_file_location("make_figures", FIGURES / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_script_draws_exactly_the_five_figures_the_notebooks_embed():
    assert set(_load_maker().FIGURES) == set(KEY_LABELS)


@pytest.mark.parametrize("name", sorted(KEY_LABELS))
def test_checked_in_svg_is_what_the_script_draws(name):
    drawn = _load_maker().rendered()[name]
    assert (FIGURES / name).read_text(encoding="utf-8") == drawn, (
        f"{name} is out of date: run `python docs/figures/make_figures.py` and commit the result"
    )


@pytest.mark.parametrize("name", sorted(KEY_LABELS))
def test_svg_is_accessible_and_names_its_key_facts(name):
    root = ET.parse(FIGURES / name).getroot()
    assert root.get("role") == "img" and root.get("aria-labelledby") == "title desc"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and len(title.text) > 20
    assert desc is not None and len(desc.text) > 200, "the description should tell the whole picture in words"
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    words = " ".join(texts)
    missing = [label for label in KEY_LABELS[name] if label not in words]
    assert not missing, f"{name} lacks {missing}"
    assert not root.findall(f".//{SVG}image"), "labels must be text, not embedded pictures"
    assert int(root.get("width")) <= 1000, "wider than a notebook column"


@pytest.mark.parametrize("name", sorted(KEY_LABELS))
def test_every_text_colour_is_readable_on_every_fill(name):
    svg = (FIGURES / name).read_text(encoding="utf-8")
    text_colours = set(re.findall(r'<text [^>]*fill="(#[0-9a-f]{6})"', svg))
    fills = set(re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"', svg))
    worst = min(_contrast(t, f) for t in text_colours for f in fills)
    assert worst >= 7.0, f"contrast {worst:.1f}:1 is below WCAG AAA (7:1)"


# where each diagram is taught (docs/NOTEBOOKS spec for issue 20)
USED_IN = {
    "container-stack.svg": ["01_container_toolkit"],
    "gpus-cdi-injection.svg": ["02_gpus_in_docker"],
    "gpu-sharing.svg": ["03_gpu_memory_limits"],
    "caching-allocator.svg": ["06_pytorch_memory"],
    "dataparallel-vs-ddp.svg": ["07_data_parallel", "08_distributed_training"],
}


@pytest.mark.parametrize("name", sorted(USED_IN))
def test_each_diagram_is_shown_in_its_notebook(name):
    import nbformat

    for stem in USED_IN[name]:
        nb = nbformat.read(FIGURES.parents[1] / "notebooks" / f"{stem}.ipynb", as_version=4)
        markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert f"../docs/figures/{name}" in markdown, f"{stem} does not show {name} (a markdown image link)"
