"""Plain-PyTorch reference: how fast torchvision's ResNet-50 trains on one GPU, with nothing of the course.

    python benchmarks/reference_resnet.py                 # ResNet-50, 224 px, batch 256, compiled
    python benchmarks/reference_resnet.py --batch 384 --compile none

What anyone would write from PyTorch's documentation: synthetic data made on the GPU once,
bf16 autocast, channels_last, cudnn.benchmark, SGD with momentum and ``fused=True``,
``torch.compile`` of the model in its default mode. ``bench speed`` runs it next to the
course's own step so that the ratio comes from one run on one machine. The last line printed
is JSON (``img_per_s`` and what was run).
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F
import torchvision


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet50")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--steps", type=int, default=30, help="timed steps")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (compilation, autotuning)")
    p.add_argument("--compile", choices=("default", "none"), default="default")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: a smoke test, not a benchmark")
    args = p.parse_args()
    cuda = args.device == "cuda"
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True

    torch.manual_seed(0)
    model = getattr(torchvision.models, args.model)(num_classes=args.classes)
    model = model.to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, fused=cuda)
    if args.compile == "default":
        model = torch.compile(model)
    x = torch.randn(args.batch, 3, args.image_size, args.image_size, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, args.classes, (args.batch,), device=device)

    def step():
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=cuda):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    started = time.perf_counter()
    first = step().item()
    for _ in range(args.warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
    warm_s = time.perf_counter() - started
    start = time.perf_counter()
    for _ in range(args.steps):
        last = step()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    img_per_s = args.batch * args.steps / seconds
    print(
        f"{args.model} {args.image_size} px, batch {args.batch}, compile {args.compile}: {img_per_s:,.1f} img/s "
        f"(warm-up {warm_s:.0f} s; loss {first:.3f} -> {last.item():.3f})"
    )
    print(
        json.dumps(
            {
                "img_per_s": round(img_per_s, 1),
                "model": args.model,
                "batch": args.batch,
                "image_size": args.image_size,
                "compile": args.compile,
                "device": args.device,
                "device_name": torch.cuda.get_device_name(0) if cuda else "CPU",
                "torch": torch.__version__,
                "warmup_s": round(warm_s, 1),
                "first_loss": round(first, 4),
                "last_loss": round(last.item(), 4),
            }
        )
    )


if __name__ == "__main__":
    main()
