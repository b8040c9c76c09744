"""Scaling efficiency, the comparison table and the plot."""

import json

import matplotlib
import pytest

from course_utils.distributed.results import (
    add_scaling,
    comparison_table,
    config_label,
    load_rows,
    plot_comparison,
    recorded_on,
)

matplotlib.use("Agg")

ROWS = [
    {
        "label": "GPU",
        "model": "resnet50",
        "mode": "single",
        "devices": 1,
        "img_per_s": 4000.0,
        "peak_mem_gib": 20.0,
        "final_accuracy": 0.5,
        "batch_per_device": 256,
        "amp": "bf16",
        "compile": "none",
        "image_size": 224,
    },
    {
        "label": "GPU",
        "model": "resnet50",
        "mode": "dataparallel",
        "devices": 2,
        "img_per_s": 3000.0,
        "peak_mem_gib": 30.0,
        "final_accuracy": 0.5,
        "batch_per_device": 256,
        "amp": "bf16",
        "compile": "none",
        "image_size": 224,
        "cudnn_benchmark": False,
    },
    {
        "label": "GPU",
        "model": "resnet50",
        "mode": "ddp",
        "devices": 2,
        "img_per_s": 7600.0,
        "peak_mem_gib": 21.0,
        "final_accuracy": 0.51,
        "batch_per_device": 256,
        "amp": "bf16",
        "compile": "none",
        "image_size": 224,
    },
]


def test_scaling_is_relative_to_single_of_the_same_configuration():
    rows = add_scaling([*ROWS, {**ROWS[2], "batch_per_device": 128}])
    assert [r.get("scaling_efficiency") for r in rows] == [1.0, 0.375, 0.95, None]
    assert "scaling_efficiency" not in ROWS[0]  # inputs untouched
    kept = add_scaling([{**ROWS[2], "scaling_efficiency": 0.5}])
    assert kept[0]["scaling_efficiency"] == 0.5


def test_table_shows_every_row_and_marks_missing_values():
    text = comparison_table([*ROWS, {"label": "CPU", "mode": "ddp", "world_size": 2, "img_per_s": 900.0}])
    lines = text.splitlines()
    assert len(lines) == 2 + 4
    assert "DataParallel (cudnn.benchmark off)" in text and "7,600" in text and "95.0%" in text
    assert lines[-1].split()[:4] == ["CPU", "DDP", "2", "900"] and "n/a" in lines[-1]


def test_scaling_shows_a_decimal_so_a_near_miss_does_not_read_as_met():
    text = comparison_table([ROWS[0], {**ROWS[2], "img_per_s": 7578.0}])
    assert "94.7%" in text and "95%" not in text


def test_two_compiled_ddp_rows_that_differ_only_in_ddp_options_are_told_apart():
    base = {"mode": "ddp", "compile": "default", "scope": "step", "batch": 512, "dtype": "bf16"}
    split = config_label({**base, "ddp_options": "static_graph=False,bucket_cap_mb=25"})
    one = config_label({**base, "ddp_options": "static_graph=False,bucket_cap_mb=25,optimize_ddp=False"})
    tuned = config_label({**base, "ddp_options": "static_graph=True,bucket_cap_mb=100"})
    assert split == "compiled (whole step), batch 512/device, bf16"
    assert one == "compiled (whole step), one graph, batch 512/device, bf16"
    assert tuned == "compiled (whole step), static_graph, 100 MB buckets, batch 512/device, bf16"


def test_recorded_on_names_every_day_and_machine_of_the_rows():
    rows = [
        {"date": "2026-11-30", "gpus_visible": 2, "device_name": "NVIDIA H200", "torch": "2.11"},
        {"date": "2026-11-28", "gpus_visible": 4, "device_name": "NVIDIA H200", "torch": "2.11"},
        {"date": "2026-11-28", "gpus_visible": 4, "device_name": "NVIDIA H200", "torch": "2.11"},
    ]
    assert recorded_on(rows) == ("2026-11-28 on 4 x NVIDIA H200, torch 2.11; 2026-11-30 on 2 x NVIDIA H200, torch 2.11")


def test_plot_has_four_panels_and_says_when_a_metric_is_missing():
    fig = plot_comparison(
        [
            {
                "label": "CPU",
                "mode": "single",
                "devices": 1,
                "img_per_s": 500.0,
                "final_accuracy": 0.4,
                "peak_mem_gib": None,
            }
        ],
        title="CPU",
    )
    assert len(fig.axes) == 4
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts == ["no GPU in these runs"]


@pytest.mark.parametrize("payload, n", [({"runs": ROWS}, 3), (ROWS, 3), (ROWS[0], 1)])
def test_rows_load_from_each_file_shape(tmp_path, payload, n):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(payload))
    assert len(load_rows(path)) == n
    assert load_rows(tmp_path / "absent.json") == []
