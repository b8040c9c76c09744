"""The launcher's parts that need no processes: commands, environment, events, error parsing."""

import sys

import pytest

from course_utils.distributed import TrainConfig, torchrun_command
from course_utils.distributed import progress as pg
from course_utils.distributed.launch import REPO_ROOT, _silent_deaths, job_env


def test_single_node_uses_standalone_and_passes_the_config():
    cfg = TrainConfig(epochs=3, batch_size=16)
    cmd = torchrun_command(cfg, 4)
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in cmd and "--nproc-per-node=4" in cmd and "--max-restarts=0" in cmd
    worker = cmd[cmd.index("course_utils.distributed.worker") + 1 :]
    assert worker[:2] == ["--mode", "ddp"]
    assert TrainConfig.from_argv(worker[2:]) == cfg


def test_several_nodes_use_a_c10d_rendezvous():
    cmd = torchrun_command(TrainConfig(), 8, nnodes=2, rdzv_endpoint="head:29400", rdzv_id="job7")
    assert "--standalone" not in cmd
    for part in ("--nnodes=2", "--rdzv-backend=c10d", "--rdzv-endpoint=head:29400", "--rdzv-id=job7"):
        assert part in cmd
    with pytest.raises(ValueError, match="rdzv_endpoint"):
        torchrun_command(TrainConfig(), 8, nnodes=2)


def test_a_script_of_ones_own_runs_in_place_of_the_worker(tmp_path):
    cmd = torchrun_command(None, 2, program=[tmp_path / "train.py", "--out", "run"])
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"] and "--standalone" in cmd
    assert cmd[-3:] == [str(tmp_path / "train.py"), "--out", "run"] and "course_utils.distributed.worker" not in cmd
    assert torchrun_command(None, 2, program=["-m", "toy", "x"])[-3:] == ["-m", "toy", "x"]
    for cfg, program in ((None, None), (TrainConfig(), ["train.py"])):
        with pytest.raises(ValueError, match="either cfg"):
            torchrun_command(cfg, 2, program=program)


def test_job_env_keeps_nvlink_multicast_off_and_finds_the_package(monkeypatch):
    monkeypatch.delenv("NCCL_NVLS_ENABLE", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = job_env(2)
    assert env["NCCL_NVLS_ENABLE"] == "0" and env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONPATH"].split(":") == [str(REPO_ROOT), "/elsewhere"]
    assert int(env["OMP_NUM_THREADS"]) >= 1
    monkeypatch.setenv("NCCL_NVLS_ENABLE", "0")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    env = job_env(2, {"EXTRA": "x"})
    assert env["OMP_NUM_THREADS"] == "3" and env["EXTRA"] == "x"


def test_events_round_trip_and_ordinary_lines_are_not_events():
    event = {"event": "step", "step": 3, "loss": 1.25}
    assert pg.parse_event(pg.format_event(event)) == event
    assert pg.parse_event("epoch 1/2: train loss 2.3") is None
    assert pg.parse_event(pg.PREFIX + "{not json") is None
    assert pg.parse_event(pg.PREFIX + '{"no_event_key": 1}') is None


def test_the_event_protocol_and_the_text_bar_import_without_jupyter():
    # torchrun workers import the event protocol; the view lives in widgets/ and needs Jupyter
    # only when it shows a widget
    import subprocess

    code = (
        "import sys\n"
        "for name in ('ipywidgets', 'IPython', 'ipykernel', 'comm'):\n"
        "    sys.modules[name] = None\n"
        "from course_utils.distributed import progress\n"
        "view = progress.ProgressView('job')\n"
        "assert not view.widget\n"
        "view.update({'event': 'start', 'total_steps': 2})\n"
        "view.update({'event': 'done'})\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "[job]" in out.stdout and "100%" in out.stdout
    from course_utils.widgets import ProgressView

    assert pg.ProgressView is ProgressView


def test_text_progress_prints_at_most_every_ten_percent(capsys):
    view = pg.ProgressView("job", widget=False)
    view.update({"event": "start", "total_steps": 100})
    for step in range(1, 101):
        view.update({"event": "step", "step": step, "loss": 1.0})
    view.update({"event": "done"})
    lines = capsys.readouterr().out.strip().splitlines()
    assert 10 <= len(lines) <= 13
    assert "100%" in lines[-1] and "finished" in lines[-1]


TORCHRUN_TAIL = """\
Failures:
[1]:
  time      : 2026-11-28_17:49:26
  host      : localhost
  rank      : 0 (local_rank: 0)
  exitcode  : 1 (pid: 23790)
  error_file: /tmp/torchelastic_x/attempt_0/0/error.json
  traceback : Traceback (most recent call last):
    RuntimeError: Connection closed by peer
[2]:
  time      : 2026-11-28_17:49:26
  host      : localhost
  rank      : 2 (local_rank: 2)
  exitcode  : -15 (pid: 23792)  (SIGTERM)
  error_file: <N/A>
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-11-28_17:49:26
  host      : localhost
  rank      : 1 (local_rank: 1)
  exitcode  : 13 (pid: 23791)
  error_file: <N/A>
  traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html
============================================================"""


ROOT_CAUSE_IS_THE_PEER = """\
Failures:
[1]:
  rank      : 1 (local_rank: 1)
  exitcode  : 13 (pid: 23791)
  error_file: <N/A>
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  rank      : 0 (local_rank: 0)
  exitcode  : 1 (pid: 23790)
  error_file: /tmp/torchelastic_x/attempt_0/0/error.json
============================================================"""


def test_torchruns_summary_names_the_rank_that_died_silently():
    """Rank 0 raised (it has an error file), rank 2 was stopped by torchrun (SIGTERM): the rank that
    died without an error file is the cause, whichever entry torchrun called the root cause."""
    assert _silent_deaths(TORCHRUN_TAIL.splitlines()) == [(1, 13)]
    # torchrun may call the rank that raised "connection reset" the root cause (its error file is
    # timestamped before the agent notices the silent death): the silent death is still found
    assert _silent_deaths(ROOT_CAUSE_IS_THE_PEER.splitlines()) == [(1, 13)]
    prefixed = [f"[node 1] {line}" for line in TORCHRUN_TAIL.splitlines()]
    assert _silent_deaths(prefixed) == [(1, 13)]
    assert _silent_deaths(["all fine"]) == []
