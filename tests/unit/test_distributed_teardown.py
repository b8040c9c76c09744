"""Ending a process group stops gloo's threads before Python shuts down (docs/multi-gpu.md,
"Ending a DDP job"): a gloo thread still alive at the exit could crash the process."""

import json
import subprocess
import sys
import textwrap

from course_utils.distributed.env import gloo_threads

SCRIPT = textwrap.dedent("""
    import json, sys
    from course_utils.distributed.env import end_process_group, gloo_threads
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method="file://" + sys.argv[1], rank=0, world_size=1)

    def train():
        model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 2))
        model(torch.randn(3, 4)).sum().backward()
        t = torch.ones(2)
        dist.all_reduce(t)
        return gloo_threads()  # they have run collectives, so they have named themselves

    started = train()
    print(json.dumps({"started": started, "left": end_process_group()}))
""")


def test_ending_the_group_after_ddp_leaves_no_gloo_thread(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "store")], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    threads = json.loads(out.strip().splitlines()[-1])
    assert threads["started"], "the check must see gloo's threads while the group lives"
    assert threads["left"] == []


def test_no_gloo_threads_in_a_process_without_a_group():
    assert gloo_threads() == []
