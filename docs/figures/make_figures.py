"""Draw the course's five diagrams as plain, accessible SVG.

    python docs/figures/make_figures.py          # rewrite docs/figures/*.svg
    python docs/figures/make_figures.py --check  # exit 1 if a checked-in SVG differs

Hand-placed boxes rather than a plotting library: the output is byte-for-byte
reproducible (so a test can compare it with the checked-in files), every label is
real <text> (searchable, readable by screen readers, crisp at any zoom), and each
file carries <title> and <desc> for assistive technology. Colours are light fills
with near-black text (contrast above 12:1); meaning never rests on colour alone.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"
MONO = "DejaVu Sans Mono, Liberation Mono, Consolas, monospace"
INK = "#111111"
MUTED = "#3d3d3d"
# fill / stroke pairs, all light enough for black text
BLUE = ("#dbe9f8", "#1f5f99")
GREEN = ("#dcf1dc", "#2c7a2c")
ORANGE = ("#fde6cc", "#a85a00")
PURPLE = ("#ebe1f5", "#5e3a8c")
GREY = ("#eeeeee", "#555555")
RED = ("#fbdcdc", "#a32020")
WHITE = ("#ffffff", "#555555")


@dataclass
class Svg:
    width: int
    height: int
    title: str
    desc: str
    parts: list[str] = field(default_factory=list)

    def rect(self, x, y, w, h, colours=WHITE, rx=6, dash=False, width=1.5):
        fill, stroke = colours
        extra = ' stroke-dasharray="6 4"' if dash else ""
        self.parts.append(
            f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{rx}" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{width}"{extra}/>'
        )

    def text(self, x, y, lines, size=14, weight="normal", anchor="start", mono=False, colour=INK, gap=1.3):
        """One <text> per call; several lines become <tspan>s (so each stays real text)."""
        if isinstance(lines, str):
            lines = [lines]
        family = MONO if mono else FONT
        spans = []
        for i, line in enumerate(lines):
            dy = 0 if i == 0 else round(size * gap, 1)
            spans.append(f'<tspan x="{x}" dy="{dy}">{escape(line) or " "}</tspan>')
        self.parts.append(
            f'<text x="{x}" y="{y}" font-family="{family}" font-size="{size}" '
            f'font-weight="{weight}" text-anchor="{anchor}" fill="{colour}" xml:space="preserve" '
            f'style="white-space:pre">{"".join(spans)}</text>'
        )

    def box(self, x, y, w, h, heading, lines=(), colours=WHITE, size=13, mono_lines=False, dash=False):
        self.rect(x, y, w, h, colours, dash=dash)
        self.text(x + 10, y + 20, heading, size=size + 2, weight="bold")
        if lines:
            self.text(x + 10, y + 20 + (size + 2) * 1.45, list(lines), size=size, mono=mono_lines)

    def arrow(self, x1, y1, x2, y2, colour=INK, dash=False, width=2):
        extra = ' stroke-dasharray="6 4"' if dash else ""
        self.parts.append(
            f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" '
            f'stroke-width="{width}" marker-end="url(#arrow)"{extra}/>'
        )

    def line(self, x1, y1, x2, y2, colour=MUTED, width=1.5, dash=False):
        extra = ' stroke-dasharray="4 3"' if dash else ""
        self.parts.append(
            f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" stroke-width="{width}"{extra}/>'
        )

    def render(self) -> str:
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}" role="img" aria-labelledby="title desc">\n'
            f'<title id="title">{escape(self.title)}</title>\n<desc id="desc">{escape(self.desc)}</desc>\n'
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
            f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{INK}"/></marker></defs>\n'
            f'<rect width="{self.width}" height="{self.height}" fill="#ffffff"/>\n'
        )
        return head + "\n".join(self.parts) + "\n</svg>\n"


def container_stack() -> Svg:
    s = Svg(
        960,
        640,
        "The GPU container stack: what lives on the host and what lives in the image",
        "Four layers. In the container image: your framework and the CUDA user-space libraries (CUDA runtime, "
        "cuDNN, cuBLAS, NCCL), but no driver. The container runtime (Docker, containerd, Podman, CRI-O) starts "
        "it. The NVIDIA Container Toolkit on the host (nvidia-ctk, nvidia-container-runtime, the CDI spec "
        "/etc/cdi/nvidia.yaml, nvidia-cdi-hook) tells the runtime which device nodes and driver libraries to add. "
        "The host NVIDIA driver: kernel modules, /dev/nvidia* device nodes, and the user-mode driver libraries "
        "libcuda.so and libnvidia-ml.so plus nvidia-smi, which are mounted into the container at start.",
    )
    s.text(480, 34, "The GPU container stack: what lives where", size=22, weight="bold", anchor="middle")
    s.text(
        480,
        58,
        "The image brings CUDA user-space libraries; the host brings the driver, and the toolkit joins them",
        size=14,
        anchor="middle",
        colour=MUTED,
    )
    # image layer
    s.rect(40, 80, 640, 150, GREEN)
    s.text(56, 106, "Container (from the image)", size=17, weight="bold")
    s.box(
        56,
        118,
        290,
        100,
        "Your code and framework",
        ["PyTorch / TensorFlow, your script,", "pip/conda packages"],
        WHITE,
    )
    s.box(
        360,
        118,
        304,
        100,
        "CUDA user-space libraries",
        ["libcudart, cuDNN, cuBLAS, NCCL", "(from nvidia/cuda base or wheels)", "NO kernel driver in the image"],
        WHITE,
    )
    # runtime
    s.rect(40, 250, 640, 80, BLUE)
    s.text(56, 276, "Container engine and OCI runtime", size=17, weight="bold")
    s.text(
        56, 300, ["Docker / containerd / Podman / CRI-O  ->  runc or crun creates namespaces, cgroups, mounts"], size=13
    )
    # toolkit
    s.rect(40, 350, 640, 120, ORANGE)
    s.text(56, 376, "NVIDIA Container Toolkit (host packages)", size=17, weight="bold")
    s.text(
        56,
        400,
        [
            "nvidia-ctk: `runtime configure`, `cdi generate` -> CDI spec /etc/cdi/nvidia.yaml",
            "nvidia-container-runtime: a runc wrapper that adds GPU edits to the OCI spec",
            "nvidia-cdi-hook / nvidia-container-runtime-hook: symlinks, ldcache at start",
        ],
        size=13,
    )
    # driver
    s.rect(40, 490, 640, 130, PURPLE)
    s.text(56, 516, "Host NVIDIA driver (installed on the host only)", size=17, weight="bold")
    s.text(
        56,
        540,
        [
            "kernel modules: nvidia, nvidia-uvm, nvidia-modeset",
            "device nodes: /dev/nvidia0..N, /dev/nvidiactl, /dev/nvidia-uvm",
            "user-mode driver: libcuda.so, libnvidia-ml.so, nvidia-smi",
            "its version sets the newest CUDA the container may use",
        ],
        size=13,
    )
    # right column: what gets injected
    s.rect(710, 80, 220, 540, GREY, dash=True)
    s.text(820, 106, "At container start", size=16, weight="bold", anchor="middle")
    s.text(
        724,
        134,
        [
            "The runtime, told by the",
            "toolkit (CDI spec or hook),",
            "adds from the host:",
            "",
            "- /dev/nvidia* nodes",
            "- libcuda.so,",
            "  libnvidia-ml.so ...",
            "- nvidia-smi",
            "- NVIDIA_* env vars",
            "",
            "so the image's CUDA",
            "libraries find a driver",
            "matching the GPU.",
            "",
            "Rule: driver >= what",
            "the image's CUDA needs",
            "(or cuda-compat on",
            "data-centre GPUs).",
        ],
        size=13,
    )
    s.arrow(689, 600, 689, 150)
    s.text(0, 0, "mounted in", size=12, anchor="middle", colour=MUTED)
    s.parts[-1] = s.parts[-1].replace('<text x="0" y="0"', '<text transform="translate(705 470) rotate(-90)"')
    return s


def gpus_cdi_injection() -> Svg:
    s = Svg(
        980,
        620,
        "What --gpus and a CDI device request put into a container",
        "Left: the two ways to ask. docker run --gpus all (or device=0) goes through the NVIDIA Container "
        "Runtime hook; docker run --device nvidia.com/gpu=all, or podman with the same CDI name, reads the "
        "CDI spec made by nvidia-ctk cdi generate. Right: what both inject into the container: device nodes "
        "/dev/nvidia0, "
        "/dev/nvidiactl, /dev/nvidia-uvm and /dev/nvidia-uvm-tools; driver libraries such as libcuda.so and "
        "libnvidia-ml.so; the nvidia-smi binary; environment variables NVIDIA_VISIBLE_DEVICES and "
        "NVIDIA_DRIVER_CAPABILITIES (which select devices and which library groups, compute and utility, are "
        "mounted); and hooks that create symlinks and update the linker cache. The image itself is unchanged.",
    )
    s.text(490, 34, "What --gpus and CDI inject into a container", size=22, weight="bold", anchor="middle")
    s.text(
        490,
        58,
        "Two ways to ask, one result: the host's GPU pieces appear inside; the image is unchanged",
        size=14,
        anchor="middle",
        colour=MUTED,
    )
    s.box(
        30,
        90,
        400,
        140,
        "Legacy path: --gpus",
        [
            "docker run --gpus all ...",
            "docker run --gpus device=1 ...",
            "dockerd adds a prestart hook:",
            "nvidia-container-runtime-hook",
            " -> nvidia-container-cli mounts",
        ],
        BLUE,
        mono_lines=True,
        size=12,
    )
    s.box(
        30,
        250,
        400,
        190,
        "CDI path (current practice)",
        [
            "nvidia-ctk cdi generate \\",
            "   --output=/etc/cdi/nvidia.yaml",
            "(toolkit >= 1.18 keeps /var/run/cdi/nvidia.yaml",
            " up to date itself: nvidia-cdi-refresh)",
            "docker run --device nvidia.com/gpu=all ...",
            "podman run --device nvidia.com/gpu=0 ...",
            "the engine applies the spec's edits:",
            "device nodes, mounts, env, hooks",
        ],
        ORANGE,
        mono_lines=True,
        size=12,
    )
    s.box(
        30,
        455,
        400,
        135,
        "Chosen by environment",
        [
            "NVIDIA_VISIBLE_DEVICES=0,1 | all | none",
            "   which GPUs (set from --gpus / CDI name)",
            "NVIDIA_DRIVER_CAPABILITIES=compute,utility",
            "   which driver libraries are mounted",
        ],
        GREY,
        size=12,
    )
    s.arrow(440, 165, 520, 250)
    s.arrow(440, 345, 520, 320)
    # container
    s.rect(520, 90, 430, 500, GREEN)
    s.text(536, 116, "Inside the container", size=17, weight="bold")
    s.box(
        536,
        130,
        398,
        96,
        "Device nodes",
        ["/dev/nvidia0 (one per visible GPU)", "/dev/nvidiactl", "/dev/nvidia-uvm, /dev/nvidia-uvm-tools"],
        WHITE,
        mono_lines=True,
        size=12,
    )
    s.box(
        536,
        236,
        398,
        112,
        "Driver libraries (from the host)",
        [
            "library                      capability",
            "libcuda.so.1                 compute",
            "libnvidia-ptxjitcompiler.so  compute",
            "libnvidia-ml.so.1            utility",
        ],
        WHITE,
        mono_lines=True,
        size=12,
    )
    s.box(536, 358, 398, 70, "Binaries", ["/usr/bin/nvidia-smi          utility"], WHITE, mono_lines=True, size=12)
    s.box(
        536,
        438,
        398,
        70,
        "Environment",
        ["NVIDIA_VISIBLE_DEVICES, NVIDIA_DRIVER_CAPABILITIES"],
        WHITE,
        mono_lines=True,
        size=12,
    )
    s.box(536, 518, 398, 62, "Hooks at start", ["create symlinks (libcuda.so), update ldcache"], WHITE, size=12)
    s.text(
        490,
        612,
        "Without `utility` in the capabilities: no nvidia-smi and no NVML inside; without `compute`: no libcuda.",
        size=13,
        anchor="middle",
        colour=MUTED,
    )
    return s


def dataparallel_vs_ddp() -> Svg:
    s = Svg(
        1000,
        640,
        "One training step: nn.DataParallel versus DistributedDataParallel",
        "Top: nn.DataParallel is one Python process. Every step GPU 0 scatters the batch, replicates the model to "
        "every GPU, runs the replicas in threads, gathers the outputs back on GPU 0 for the loss, reduces the "
        "gradients onto GPU 0, and the optimizer steps there; GPU 0 does extra work and the others wait. Bottom: "
        "DDP runs one process per GPU, each with its own model copy and its own slice of data from a "
        "DistributedSampler. During backward, gradients are grouped into buckets (about 25 MB by default) and "
        "each bucket is all-reduced as soon as it is ready, overlapping communication with the rest of backward; "
        "every process then runs the same optimizer step, so the copies stay identical.",
    )
    s.text(500, 34, "One training step: DataParallel versus DDP", size=22, weight="bold", anchor="middle")
    # DataParallel lane
    s.rect(20, 60, 960, 250, RED)
    s.text(36, 86, "nn.DataParallel: 1 process, threads, everything through GPU 0, every step", size=17, weight="bold")
    steps = [
        ("scatter", ["batch split", "from GPU 0"]),
        ("replicate", ["model copied", "to every GPU"]),
        ("parallel_apply", ["forward, one", "thread per GPU"]),
        ("gather", ["outputs to GPU 0,", "loss there"]),
        ("backward", ["grads summed", "onto GPU 0"]),
        ("optimizer", ["step on GPU 0", "only"]),
    ]
    x = 36
    for i, (name, note) in enumerate(steps):
        w = 146
        s.box(x, 100, w - 6, 72, name, note, WHITE, size=12)
        if i < len(steps) - 1:
            s.arrow(x + w - 6, 136, x + w + 4, 136, width=1.5)
        x += w + 10
    # GPU lanes for DP
    s.text(36, 200, "GPU 0", size=13, weight="bold")
    s.rect(100, 188, 860, 18, ORANGE, rx=3)
    s.text(108, 202, "busy all step: scatter, forward, gather, loss, reduce, optimizer", size=12)
    for g, y in ((1, 218), (2, 246)):
        s.text(36, y + 12, f"GPU {g}", size=13, weight="bold")
        s.rect(100, y, 180, 18, WHITE, rx=3, dash=True)
        s.text(108, y + 13, "waits (copy in)", size=12, colour=MUTED)
        s.rect(282, y, 220, 18, ORANGE, rx=3)
        s.text(290, y + 13, "forward of its slice", size=12)
        s.rect(504, y, 120, 18, WHITE, rx=3, dash=True)
        s.text(512, y + 13, "waits", size=12, colour=MUTED)
        s.rect(626, y, 160, 18, ORANGE, rx=3)
        s.text(634, y + 13, "backward", size=12)
        s.rect(788, y, 172, 18, WHITE, rx=3, dash=True)
        s.text(796, y + 13, "idle (optimizer on 0)", size=12, colour=MUTED)
    s.text(
        36,
        296,
        "Costs: the model is re-replicated every step; Python's GIL; GPU 0 is the bottleneck; one machine only.",
        size=13,
        colour=INK,
    )
    # DDP lane
    s.rect(20, 330, 960, 290, GREEN)
    s.text(
        36,
        356,
        "DistributedDataParallel: 1 process per GPU (torchrun), each with its own data slice",
        size=17,
        weight="bold",
    )
    for r, y in enumerate((376, 446, 516)):
        s.text(36, y + 20, f"rank {r}", size=13, weight="bold")
        s.text(36, y + 38, f"GPU {r}", size=12, colour=MUTED)
        s.rect(100, y, 110, 28, WHITE, rx=3)
        s.text(108, y + 19, "own batch", size=12)
        s.rect(212, y, 200, 28, BLUE, rx=3)
        s.text(220, y + 19, "forward (own model copy)", size=12)
        s.rect(414, y, 320, 28, BLUE, rx=3)
        s.text(422, y + 19, "backward: last layers first ...", size=12)
        s.rect(736, y, 100, 28, WHITE, rx=3)
        s.text(744, y + 19, "optimizer", size=12)
        for b, bx in enumerate((480, 570, 660)):
            s.rect(bx, y + 32, 84, 22, ORANGE, rx=3)
            s.text(bx + 6, y + 47, f"all-reduce b{b}", size=11)
    s.text(
        850,
        400,
        [
            "buckets of",
            "gradients",
            "(~25 MB each,",
            "bucket_cap_mb)",
            "are all-reduced",
            "as soon as",
            "they are ready,",
            "while backward",
            "continues",
        ],
        size=12,
    )
    s.text(
        36,
        606,
        "Every rank ends the step with the same averaged gradients and the same weights; no model copy per step.",
        size=13,
    )
    return s


def caching_allocator() -> Svg:
    s = Svg(
        980,
        600,
        "PyTorch's CUDA caching allocator: allocated, reserved and fragmentation",
        "A bar for the GPU's memory as nvidia-smi sees one PyTorch process: the CUDA context (a few hundred MiB, "
        "not counted by PyTorch), then segments reserved by the caching allocator. Inside the segments, blocks "
        "are either allocated (live tensors, torch.cuda.memory_allocated) or cached free (reserved but not "
        "allocated). memory_reserved is allocated plus cached. Fragmentation: three free slivers of 60 MiB each "
        "add up to 180 MiB but a 100 MiB tensor fits in none of them, so the allocator reserves a new segment or "
        "reports out of memory with 'reserved but unallocated' memory. torch.cuda.empty_cache returns only "
        "wholly free segments to the driver; a segment with any live block stays. nvidia-smi shows reserved plus "
        "context (plus other libraries' memory).",
    )
    s.text(
        490, 34, "The CUDA caching allocator: allocated, reserved, fragmented", size=22, weight="bold", anchor="middle"
    )
    s.text(490, 58, "One PyTorch process on one GPU (sizes for illustration)", size=14, anchor="middle", colour=MUTED)
    y = 110
    s.rect(30, y, 120, 70, GREY)
    s.text(90, y + 32, "CUDA", size=13, weight="bold", anchor="middle")
    s.text(90, y + 50, "context", size=13, weight="bold", anchor="middle")
    # segment 1
    s.rect(160, y - 6, 360, 82, WHITE, dash=True)
    s.text(166, y - 12, "segment A (reserved from the driver with cudaMalloc)", size=12, colour=MUTED)
    blocks = [(160, 80, "alloc"), (240, 60, "free"), (300, 100, "alloc"), (400, 60, "free"), (460, 60, "alloc")]
    for bx, bw, kind in blocks:
        col = BLUE if kind == "alloc" else WHITE
        s.rect(bx + 4, y + 4, bw - 8, 62, col, rx=3, dash=(kind == "free"))
        s.text(bx + bw / 2, y + 40, "tensor" if kind == "alloc" else "60 free", size=12, anchor="middle")
    # segment 2
    s.rect(530, y - 6, 250, 82, WHITE, dash=True)
    s.text(536, y - 12, "segment B", size=12, colour=MUTED)
    for bx, bw, kind in [(530, 130, "alloc"), (660, 60, "free"), (720, 60, "alloc")]:
        col = BLUE if kind == "alloc" else WHITE
        s.rect(bx + 4, y + 4, bw - 8, 62, col, rx=3, dash=(kind == "free"))
        s.text(bx + bw / 2, y + 40, "tensor" if kind == "alloc" else "60 free", size=12, anchor="middle")
    s.rect(790, y, 160, 70, WHITE, dash=True)
    s.text(870, y + 32, "not reserved", size=13, anchor="middle")
    s.text(870, y + 50, "(free on GPU)", size=13, anchor="middle")

    # brackets
    def bracket(x1, x2, yy, label, sub):
        s.line(x1, yy, x2, yy, INK, 2)
        s.line(x1, yy - 6, x1, yy + 6, INK, 2)
        s.line(x2, yy - 6, x2, yy + 6, INK, 2)
        s.text((x1 + x2) / 2, yy + 22, label, size=14, weight="bold", anchor="middle")
        s.text((x1 + x2) / 2, yy + 40, sub, size=12, anchor="middle", mono=True)

    bracket(160, 780, 212, "reserved (cached) = allocated + cached free", "torch.cuda.memory_reserved()")
    bracket(
        30,
        780,
        284,
        "what nvidia-smi shows for the process = reserved + context (+ cuBLAS, NCCL ...)",
        "nvidia-smi / NVML used memory",
    )
    # legend
    s.rect(30, 350, 24, 18, BLUE, rx=3)
    s.text(62, 364, "allocated: live tensors  (torch.cuda.memory_allocated())", size=13)
    s.rect(30, 378, 24, 18, WHITE, rx=3, dash=True)
    s.text(62, 392, "cached free block: reserved but not allocated, reused for the next tensor that fits", size=13)
    # fragmentation panel
    s.rect(30, 420, 920, 160, ORANGE)
    s.text(46, 446, "Fragmentation", size=17, weight="bold")
    s.text(
        46,
        472,
        [
            "Three free slivers of 60 MiB = 180 MiB cached free, but a new 100 MiB tensor fits in none of them:",
            "a block never spans two slivers or two segments. The allocator must reserve a new segment, or raise",
            "OutOfMemoryError even though 'reserved but unallocated' memory is large.",
            "empty_cache() gives back only segments with no live block (none here), so it does not fix this;",
            "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True (or max_split_size_mb) reduces fragmentation.",
        ],
        size=13,
    )
    return s


def gpu_sharing() -> Svg:
    s = Svg(
        1000,
        600,
        "Sharing one GPU: MIG versus MPS versus time-slicing",
        "Three columns. MIG (A100, H100, H200 and newer data-centre GPUs): the GPU is split in hardware into up to "
        "seven instances, each with its own memory, SMs and L2 cache; isolation of memory, faults and "
        "performance; the memory limit is the instance size; use for multi-tenant inference and "
        "guaranteed quality of service. MPS: processes share one GPU context through the MPS server, so their "
        "kernels run at the same time; optional limits CUDA_MPS_ACTIVE_THREAD_PERCENTAGE and "
        "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT, set by the client and cooperative unless the tenant cannot change "
        "its environment; MPS v3 memory partitioning (driver r615+, CUDA 13.4, cgroup v2) enforces a "
        "per-container limit; a fatal fault can affect all clients; use for many small cooperative jobs. "
        "Time-slicing: the default; processes take turns on the whole GPU; no memory limit and no isolation "
        "of memory or performance; use for development and bursty light jobs.",
    )
    s.text(500, 34, "Sharing one GPU: MIG vs MPS vs time-slicing", size=22, weight="bold", anchor="middle")
    cols = [
        (20, "MIG (Multi-Instance GPU)", PURPLE),
        (347, "MPS (Multi-Process Service)", BLUE),
        (674, "Time-slicing (default)", GREY),
    ]
    for x, name, col in cols:
        s.rect(x, 56, 306, 530, col)
        s.text(x + 153, 82, name, size=16, weight="bold", anchor="middle")
    # MIG picture: partitions each with memory and SMs
    for i, (label, h) in enumerate((("3g.71gb", 90), ("2g.35gb", 60), ("1g.18gb", 40))):
        y = 96 + sum((90, 60, 40)[:i]) + 6 * i
        s.rect(36, y, 274, h, WHITE, rx=4)
        s.text(46, y + 18, f"instance {label}", size=12, weight="bold")
        s.text(172, y + 18, "own SMs, memory, L2", size=12)
        if h > 40:
            share = {"3g.71gb": "3/7 of the compute, 71 GB", "2g.35gb": "2/7 of the compute, 35 GB"}[label]
            s.text(46, y + 38, share, size=12, colour=MUTED)
    s.text(36, 310, "(H200 profiles; up to 7 instances)", size=11, colour=MUTED)
    # MPS picture: one context, several clients
    s.rect(363, 96, 274, 202, WHITE, rx=4)
    s.text(373, 116, "one shared GPU context (MPS server)", size=12, weight="bold")
    for j, y in enumerate((128, 176, 224)):
        s.rect(375, y, 250, 40, BLUE, rx=4)
        s.text(385, y + 17, f"client {j + 1}: kernels run concurrently", size=12)
        s.text(385, y + 33, "optional % of SMs, memory limit", size=11, colour=MUTED)
    s.text(373, 286, "all clients share SMs and memory", size=12)
    # time slicing picture
    s.rect(690, 96, 274, 202, WHITE, rx=4)
    s.text(700, 116, "whole GPU, one context at a time", size=12, weight="bold")
    for k, (x, who) in enumerate(((700, "A"), (760, "B"), (820, "C"), (880, "A"))):
        s.rect(x, 130, 56, 60, GREY, rx=3)
        s.text(x + 28, 166, f"job {who}", size=12, anchor="middle")
        del k
    s.text(
        700,
        214,
        ["turns of a few ms; every job", "sees (and can fill) all the", "memory; context switches", "cost time"],
        size=12,
    )
    rows = [
        (
            "Isolation",
            ["hardware: memory, faults,", "bandwidth and SMs"],
            ["separate address spaces, but", "a fatal fault can hit all", "clients"],
            ["none for memory or speed;", "faults stay per process"],
        ),
        (
            "Memory limit",
            ["yes: the instance size", "(fixed profiles)"],
            ["client-set limit: cooperative;", "MPS v3 partitioning (r615+,", "CUDA 13.4): kernel-enforced"],
            ["none: one job can take it all", "(no docker flag caps it)"],
        ),
        (
            "Use case",
            ["multi-tenant inference,", "guaranteed QoS; A100/H100/H200"],
            ["many small cooperative jobs,", "inference servers, MPI ranks"],
            ["development, notebooks,", "bursty light jobs"],
        ),
    ]
    y = 318
    for label, *cells in rows:
        for (x, _, _), cell in zip(cols, cells, strict=True):
            s.rect(x + 10, y, 286, 80, WHITE, rx=4)
            s.text(x + 20, y + 20, label, size=13, weight="bold")
            s.text(x + 20, y + 40, cell, size=12)
        y += 88
    return s


FIGURES = {
    "container-stack.svg": container_stack,
    "gpus-cdi-injection.svg": gpus_cdi_injection,
    "dataparallel-vs-ddp.svg": dataparallel_vs_ddp,
    "caching-allocator.svg": caching_allocator,
    "gpu-sharing.svg": gpu_sharing,
}


def rendered() -> dict[str, str]:
    return {name: make().render() for name, make in FIGURES.items()}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, svg in rendered().items():
        path = HERE / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != svg:
                stale.append(name)
        else:
            path.write_text(svg, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print("out of date (run `python docs/figures/make_figures.py`): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
