"""Reference solution of notebook 08's exercise 1 (the learner writes this file themselves).

Run: torchrun --standalone --nproc-per-node 2 my_ddp_reference.py RUN_DIR
"""

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.nn  # before init_process_group: imported later, it keeps the group alive
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

OUT = Path(sys.argv[1])


def pick_backend():
    return "nccl" if torch.cuda.is_available() else "gloo"


def make_loader(dataset, rank, world_size):
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=0)
    return DataLoader(dataset, batch_size=8, sampler=sampler), sampler


def wrap(model):
    return DDP(model)


def check_allreduce(rank, device):
    t = torch.tensor([float(rank + 1)], device=device)
    dist.all_reduce(t)
    return t.item()


def train(rank, world_size, device):
    torch.manual_seed(0)
    data = TensorDataset(torch.arange(64), torch.randn(64, 4), torch.randn(64, 1))
    loader, sampler = make_loader(data, rank, world_size)
    model = wrap(torch.nn.Linear(4, 1).to(device))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    if sampler is not None:
        sampler.set_epoch(0)
    seen, first_grads = [], None
    for index, x, y in loader:
        seen += index.tolist()
        x, y = x.to(device), y.to(device)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        if first_grads is None:
            first_grads = [g for p in model.parameters() for g in p.grad.flatten().tolist()]
        opt.step()
    result = {
        "rank": rank,
        "world_size": world_size,
        "backend": dist.get_backend(),
        "indices": seen,
        "grads": first_grads,
        "allreduce": check_allreduce(rank, device),
    }
    (OUT / f"rank{rank}.json").write_text(json.dumps(result))


def main():
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    backend = pick_backend()
    # NCCL works on CUDA tensors: each rank uses the GPU of its local rank; gloo works on the CPU
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend)
    train(rank, world_size, device)  # the DDP model is gone when train() returns
    dist.destroy_process_group()  # every rank, after success: frees the group and joins its threads
    (OUT / f"rank{rank}.done").write_text("ok")


if __name__ == "__main__":
    main()
