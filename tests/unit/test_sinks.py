import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from course_utils.telemetry import (
    CSV_COLUMNS,
    AlertRule,
    CsvLogger,
    GpuSample,
    SimulatedBackend,
    Snapshot,
    SummaryStats,
    ThresholdAlerts,
    read_metrics_csv,
)
from course_utils.units import MIB


def snap_with(t, **fields):
    gpu = GpuSample(timestamp=t, index=0, uuid="GPU-x", name="test", **fields)
    return Snapshot(timestamp=t, source="nvml", gpus=(gpu,))


def test_csv_logger_writes_header_once_and_one_row_per_gpu(tmp_path):
    path = tmp_path / "m.csv"
    backend = SimulatedBackend(3, seed=0, step_s=0.5)
    with CsvLogger(path) as log:
        for _ in range(10):
            log(backend.snapshot())
    with CsvLogger(path) as log:  # appending to an existing log keeps one header
        log(backend.snapshot())
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert sum(line.startswith("timestamp") for line in lines) == 1
    assert len(lines) == 1 + 11 * 3
    parsed = read_metrics_csv(path)
    assert parsed.bad_lines == [] and len(parsed.rows) == 33
    assert parsed.gpus() == [0, 1, 2]
    assert all(r["source"] == "simulated" for r in parsed.rows)


def test_unsupported_metric_is_an_empty_field_not_zero(tmp_path):
    path = tmp_path / "m.csv"
    with CsvLogger(path) as log:
        log(snap_with(1.0, memory_used_bytes=10 * MIB, memory_total_bytes=100 * MIB, power_w=None))
    row = read_metrics_csv(path).rows[0]
    assert row["power_w"] is None
    assert row["memory_used_mib"] == 10 and row["memory_used_pct"] == 10


def test_logger_refuses_a_file_with_other_columns_and_leaves_it_alone(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other columns"):
        CsvLogger(path)
    assert path.read_text() == "a,b\n1,2\n"


def test_reader_keeps_good_rows_and_reports_bad_ones(tmp_path):
    path = tmp_path / "m.csv"
    with CsvLogger(path) as log:
        for t in range(3):
            log(snap_with(float(t), utilization_pct=50.0))
    with open(path, "a") as f:
        f.write("garbage,row\n")
        f.write("1.0,2026-01-01T00:00:00.000+00:00,nvml,0,GPU-x,test,1,2,3,4,5,6,7,8,9,1\n")
        f.write("1.0,2026-01-01,nvml,notanint,GPU-x,test,,,,,,,,,,1\n")
        f.write("5.0,2026-01-01T00:00:05.000+00:00,nvml,0,GPU-x,te")  # torn last line
    log = read_metrics_csv(path)
    assert len(log.rows) == 4
    assert [n for n, _ in log.bad_lines] == [5, 7, 8]
    assert "incomplete last line" in log.bad_lines[-1][1]


def test_reader_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="no metrics log"):
        read_metrics_csv(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="empty"):
        read_metrics_csv(tmp_path / "empty.csv")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="does not look like"):
        read_metrics_csv(tmp_path / "x.csv")


def test_logger_after_a_torn_row_starts_on_a_new_line(tmp_path):
    path = tmp_path / "m.csv"
    with CsvLogger(path) as log:
        log(snap_with(1.0, utilization_pct=1.0))
    with open(path, "a") as f:
        f.write("2.0,2026-01-01T00:00:02")
    with CsvLogger(path) as log:
        log(snap_with(3.0, utilization_pct=3.0))
    parsed = read_metrics_csv(path)
    assert [r["timestamp"] for r in parsed.rows] == [1.0, 3.0]
    assert len(parsed.bad_lines) == 1


def test_sigkill_leaves_only_complete_parseable_rows(tmp_path):
    """A sampler logging at 200 Hz is killed with SIGKILL mid-run: every
    complete row of the file parses, and at most the last line is torn."""
    path = tmp_path / "killed.csv"
    script = textwrap.dedent(f"""
        import time
        from course_utils.telemetry import CsvLogger, Sampler, SimulatedBackend
        sampler = Sampler(SimulatedBackend(8), interval=0.01, name=None)
        sampler.subscribe(CsvLogger({str(path)!r}))
        sampler.start()
        print("started", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not path.exists() or path.stat().st_size < 50_000):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    log = read_metrics_csv(path)
    assert len(log.rows) >= 100
    assert all(n == len(path.read_text().split("\n")) for n, _ in log.bad_lines)  # only the last line
    with open(path, newline="") as f:
        complete = [line for line in f.read().split("\n")[1:-1]]
    assert len(complete) == len(log.rows)
    assert all(len(next(csv.reader([line]))) == len(CSV_COLUMNS) for line in complete)


def test_a_file_size_limit_hit_mid_row_leaves_no_torn_row(tmp_path):
    """RLIMIT_FSIZE stops a write part-way through a snapshot's rows: the short write is seen,
    the error says what happened, the file is cut back to its last complete row, and once the
    limit is lifted the next rows are appended whole (not merged into a torn one)."""
    path = tmp_path / "limited.csv"
    script = textwrap.dedent(f"""
        import json, os, resource
        from course_utils.telemetry import CsvLogger, SimulatedBackend

        short = []
        real_write = os.write
        def write(fd, data):
            n = real_write(fd, data)
            if n < len(data):
                short.append((n, len(data)))
            return n
        os.write = write  # only to observe the short write; the logger's own loop handles it

        backend = SimulatedBackend(4, seed=1, step_s=1.0)
        log = CsvLogger({str(path)!r})
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize({str(path)!r}) + 1000, hard))
        ok, errors = 0, []
        for _ in range(5):
            try:
                log(backend.snapshot())
                ok += 1
            except OSError as exc:
                errors.append(str(exc))
        size_at_limit = os.path.getsize({str(path)!r})
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        log(backend.snapshot())
        log.close()
        print(json.dumps({{"ok": ok + 1, "errors": errors, "short": short, "size_at_limit": size_at_limit}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(out.stdout)
    assert result["short"], "the limit should have cut a write short"
    assert result["errors"] and "the file keeps every complete row" in result["errors"][0]
    text = path.read_text()
    assert result["size_at_limit"] <= len(text) and text.endswith("\n")
    log = read_metrics_csv(path)
    assert not log.bad_lines and len(log.rows) == 4 * result["ok"]
    lines = text.split("\n")[1:-1]
    assert all(len(next(csv.reader([line]))) == len(CSV_COLUMNS) for line in lines)


def test_close_fsyncs_the_log(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    log = CsvLogger(tmp_path / "a.csv")
    log(snap_with(1.0, utilization_pct=1.0))
    assert synced == []  # not per row
    log.close()
    assert len(synced) == 1


def test_summary_stats_per_gpu_and_metric():
    stats = SummaryStats(metrics=("utilization_pct", "power_w"))
    for t, u in enumerate([10.0, 30.0, 20.0]):
        stats(snap_with(float(t), utilization_pct=u, power_w=None))
    s = stats.summary()[0]
    assert s["utilization_pct"] == {"count": 3, "mean": 20.0, "min": 10.0, "max": 30.0, "last": 20.0}
    assert s["power_w"]["count"] == 0 and s["power_w"]["mean"] is None
    assert "n/a" in stats.table()
    with pytest.raises(ValueError, match="unknown metric"):
        SummaryStats(metrics=("gpu_happiness",))


def test_alerts_have_hysteresis():
    events = []
    alerts = ThresholdAlerts([AlertRule("memory_used_pct", high=90, clear=80)], on_event=events.append)
    for t, pct in enumerate([50, 91, 89, 95, 85, 79, 81, 92]):
        alerts(snap_with(float(t), memory_used_bytes=pct * MIB, memory_total_bytes=100 * MIB))
    assert [(e.state, e.value) for e in events] == [("raised", 91.0), ("cleared", 79.0), ("raised", 92.0)]
    assert len(alerts.active) == 1 and "GPU 0" in str(alerts.active[0])


def test_alert_rule_validation():
    with pytest.raises(ValueError, match="clear"):
        AlertRule("temperature_c", high=80, clear=85)
    with pytest.raises(ValueError, match="unknown metric"):
        AlertRule("fan", high=1, clear=0)


def test_alerts_on_a_simulated_trace_per_gpu():
    backend = SimulatedBackend(2, seed=0, step_s=0.5)
    alerts = ThresholdAlerts([AlertRule("utilization_pct", high=90, clear=50, gpu=1)])
    for _ in range(300):
        alerts(backend.snapshot())
    assert alerts.events and all(e.gpu == 1 for e in alerts.events)
    states = [e.state for e in alerts.events]
    assert all(a != b for a, b in itertools.pairwise(states))  # strictly alternating
