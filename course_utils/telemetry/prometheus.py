"""Publish the sampler's GPU metrics to Prometheus, under dcgm-exporter's names.

>>> sampler = Sampler(open_backend(simulate=4), interval=1.0).start()
>>> exporter = start_exporter(sampler, ":9400")     # loopback only unless a host is given
>>> exporter.url
'http://127.0.0.1:9400/metrics'
>>> exporter.stop()

A scrape never reads a GPU: :class:`SnapshotCollector` turns the latest
snapshot the sampler already took into metric families (a prometheus_client
custom collector: register it in your own ``CollectorRegistry`` if you serve
metrics already), so NVML is called on the sampler's schedule however many
Prometheus servers scrape, and however often. Metric and label names follow NVIDIA's dcgm-exporter (its
``default-counters.csv``), so a dashboard built for one works on the other;
``docs/monitoring.md`` lists where ours differ. No Jupyter import here: the
command line and a container use this module as it is.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from ..units import MIB
from .samples import GpuSample, Snapshot

DEFAULT_HOST = "127.0.0.1"  # loopback: a cluster deployment asks for 0.0.0.0 explicitly
DEFAULT_PORT = 9400  # dcgm-exporter's port

# dcgm-exporter's labels, in its order, then ours.
GPU_LABELS = ("gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "simulated")
PROCESS_LABELS = ("gpu", "UUID", "Hostname", "pid", "process_name", "simulated")

# (metric, help, how to read it from a GpuSample). Names and units are dcgm-exporter's.
GPU_METRICS: tuple[tuple[str, str, Callable[[GpuSample], float | None]], ...] = (
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", lambda g: g.utilization_pct),
    (
        "DCGM_FI_DEV_MEM_COPY_UTIL",
        "Memory utilization (in %): time the memory controller was busy.",
        lambda g: g.memory_busy_pct,
    ),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", lambda g: g.memory_used_mib),
    ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", lambda g: _fb_free_mib(g)),
    ("DCGM_FI_DEV_FB_TOTAL", "Framebuffer memory total (in MiB).", lambda g: g.memory_total_mib),
    (
        "DCGM_FI_DEV_FB_RESERVED",
        "Framebuffer memory reserved by the driver (in MiB).",
        lambda g: None if g.memory_reserved_bytes is None else g.memory_reserved_bytes / MIB,
    ),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", lambda g: g.temperature_c),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", lambda g: g.power_w),
    ("DCGM_FI_DEV_ENFORCED_POWER_LIMIT", "Power limit the driver enforces (in W).", lambda g: g.power_limit_w),
    ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", lambda g: g.sm_clock_mhz),
)


def _fb_free_mib(g: GpuSample) -> float | None:
    # DCGM's free excludes the driver's reservation: used + free + reserved = total
    if g.memory_total_bytes is None or g.memory_used_bytes is None:
        return None
    return (g.memory_total_bytes - g.memory_used_bytes - (g.memory_reserved_bytes or 0)) / MIB


def parse_address(text: str | int | None) -> tuple[str, int]:
    """``"9400"``, ``":9400"``, ``"0.0.0.0:9400"``, ``"[::1]:9400"`` -> (host, port).

    A missing host means loopback (``127.0.0.1``): publishing GPU metrics to the
    network is a decision to write down, not a default. Port 0 picks a free port.
    """
    if text is None:
        return DEFAULT_HOST, DEFAULT_PORT
    raw = str(text).strip()
    host, sep, port_text = raw.rpartition(":")
    if not sep:
        host, port_text = "", raw
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{raw!r}: write an IPv6 address in brackets, e.g. [::1]:9400")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(
            f"{raw!r} is not an address to listen on: give PORT, :PORT or HOST:PORT "
            "(e.g. :9400 for this machine only, 0.0.0.0:9400 for every interface)"
        ) from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range: use 1-65535 (or 0 for any free port)")
    host = host or DEFAULT_HOST
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(
                f"{host!r} is not an IP address to listen on; use 127.0.0.1 (this machine), "
                "0.0.0.0 (every interface) or an address of this machine"
            ) from None
    return host, port


def hostname() -> str:
    """What the ``Hostname`` label says: the node's name in Kubernetes (``NODE_NAME``,
    as dcgm-exporter reads it), otherwise this machine's name."""
    return os.environ.get("NODE_NAME") or socket.gethostname()


class SnapshotCollector:
    """A prometheus_client collector over a sampler's latest snapshot.

    ``collect`` makes no backend call. A snapshot older than ``max_age_s`` is
    not published (a stopped sampler must not look like a steady GPU): the GPU
    series vanish and Prometheus marks them stale, while
    ``course_exporter_snapshot_age_seconds`` says why.
    """

    def __init__(self, sampler, max_age_s: float | None = None, host: str | None = None):
        self.sampler = sampler
        self.max_age_s = max_age_s if max_age_s is not None else max(5.0, 5 * sampler.interval)
        self.hostname = host or hostname()
        self.scrapes = 0
        self._processes: tuple[float, tuple] | None = None
        self._received = time.monotonic()  # when the latest snapshot arrived (monotonic clock)
        self._labels: dict[tuple[int, str], tuple[str, ...]] = {}
        self._static = {d.index: d for d in sampler.backend.devices()}
        latest = sampler.latest
        if latest is not None:
            self._on_snapshot(latest)
        self._unsubscribe = sampler.subscribe(self._on_snapshot)

    def _on_snapshot(self, snap: Snapshot) -> None:
        # Called by the sampler's thread: O(1), no I/O. Ages are measured on this
        # process's monotonic clock, since a simulated snapshot's timestamp may be virtual.
        self._received = time.monotonic()
        if snap.processes is not None:  # read every N ticks only: keep the last table
            self._processes = (self._received, snap.processes)

    def close(self) -> None:
        self._unsubscribe()

    def _gpu_labels(self, g: GpuSample, simulated: str) -> tuple[str, ...]:
        key = (g.index, g.uuid)
        labels = self._labels.get(key)
        if labels is None:
            info = self._static.get(g.index)
            extra = info.extra if info is not None else {}
            minor = extra.get("minor_number", g.index)
            labels = (
                str(g.index),
                g.uuid,
                extra.get("pci_bus_id", ""),
                f"nvidia{minor}",
                g.name,
                self.hostname,
                simulated,
            )
            self._labels[key] = labels
        return labels

    def collect(self) -> Iterator[Metric]:
        """Every family: the exporter's own, then the GPUs' (if the snapshot is fresh)."""
        self.scrapes += 1
        yield from self.collect_exporter()
        snap = self.fresh_snapshot()
        if snap is not None:
            yield from self.collect_gpus(snap)

    def fresh_snapshot(self) -> Snapshot | None:
        """The sampler's latest snapshot, or None when there is none or it is too old."""
        snap = self.sampler.latest
        if snap is None or time.monotonic() - self._received > self.max_age_s:
            return None
        return snap

    def collect_exporter(self) -> Iterator[Metric]:
        """The exporter's own families: where the numbers come from, and how old they are."""
        snap = self.sampler.latest
        info = GaugeMetricFamily(
            "course_exporter_info",
            "Where the GPU numbers come from (always 1).",
            labels=("source", "simulated", "Hostname"),
        )
        info.add_metric(("none" if snap is None else snap.source, _flag(snap), self.hostname), 1.0)
        yield info
        age = float("nan") if snap is None else time.monotonic() - self._received
        yield GaugeMetricFamily(
            "course_exporter_snapshot_age_seconds",
            "Seconds since the sampler's latest snapshot (GPU series are dropped "
            "past course_exporter_max_age_seconds).",
            value=age,
        )
        yield GaugeMetricFamily(
            "course_exporter_max_age_seconds", "A snapshot older than this is not published.", value=self.max_age_s
        )

    def collect_gpus(self, snap: Snapshot) -> Iterator[Metric]:
        """The GPU and process families of ``snap`` (the same for every scrape of it)."""
        simulated = _flag(snap)
        families = [GaugeMetricFamily(name, doc, labels=GPU_LABELS) for name, doc, _ in GPU_METRICS]
        up = GaugeMetricFamily(
            "course_gpu_healthy",
            "1 if the GPU answered this sample, 0 if it failed (lost or unknown error).",
            labels=GPU_LABELS,
        )
        for g in snap.gpus:
            labels = self._gpu_labels(g, simulated)
            up.add_metric(labels, 1.0 if g.healthy else 0.0)
            if not g.healthy:
                continue
            for family, (_, _, read) in zip(families, GPU_METRICS, strict=True):
                value = read(g)
                if value is not None:  # unsupported: no series, never a fake 0
                    family.add_metric(labels, float(value))
        yield up
        yield from families
        yield from self._process_families(snap, simulated)

    def _process_families(self, snap: Snapshot, simulated: str) -> Iterator[Metric]:
        if self._processes is None:
            return
        received, procs = self._processes
        if time.monotonic() - received > self.max_age_s:
            return
        uuids = {g.index: g.uuid for g in snap.gpus}
        family = GaugeMetricFamily(
            "course_gpu_process_memory_used_bytes",
            "GPU memory a process holds, as NVML reports it (bytes). pid is the host's PID; "
            "process_name is empty when this container cannot see the process.",
            labels=PROCESS_LABELS,
        )
        for p in procs:
            if p.used_memory_bytes is None:
                continue
            family.add_metric(
                (str(p.gpu_index), uuids.get(p.gpu_index, ""), self.hostname, str(p.pid), p.name or "", simulated),
                float(p.used_memory_bytes),
            )
        yield family


def _flag(snap: Snapshot | None) -> str:
    return "true" if snap is not None and snap.simulated else "false"


class _Families:
    """Adapts a generator of metric families to what generate_latest() reads."""

    def __init__(self, collect):
        self.collect = collect


class SnapshotRenderer:
    """The text a scrape gets, rendered by prometheus_client's ``generate_latest``.

    The GPU part is rendered once per snapshot and kept: a second scraper (an HA
    pair of Prometheus servers), or scrapes faster than the sampler, cost a
    dictionary look-up instead of a rendering. The exporter's own families
    (the snapshot's age) are rendered on every scrape.
    """

    def __init__(self, collector: SnapshotCollector):
        self.collector = collector
        self._cached: tuple[Snapshot, object, bytes] | None = None
        self._lock = threading.Lock()

    def render(self) -> bytes:
        c = self.collector
        c.scrapes += 1
        head = generate_latest(_Families(c.collect_exporter))
        snap = c.fresh_snapshot()
        if snap is None:
            return head
        procs = c._processes
        with self._lock:
            cached = self._cached
            if cached is not None and cached[0] is snap and cached[1] is procs:
                return head + cached[2]
        body = generate_latest(_Families(lambda: c.collect_gpus(snap)))
        with self._lock:
            self._cached = (snap, procs, body)  # holds the snapshot itself: `is` cannot match a recycled id
        return head + body


class _Handler(BaseHTTPRequestHandler):
    renderer: SnapshotRenderer  # set on a subclass per server

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] not in ("/metrics", "/"):
            self.send_error(404, "the metrics are at /metrics")
            return
        try:
            body = self.renderer.render()
        except Exception as exc:  # a scrape must never take the server down
            self.send_error(500, f"{type(exc).__name__}: {exc}")
            return
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # no line per scrape on stderr
        pass


def _serve(host: str, port: int, renderer: SnapshotRenderer) -> tuple[ThreadingHTTPServer, threading.Thread]:
    # http.server directly: prometheus_client's WSGI server (wsgiref) cost ~0.4 ms more per scrape
    handler = type("Handler", (_Handler,), {"renderer": renderer})
    server_cls = type(
        "Server",
        (ThreadingHTTPServer,),
        {"address_family": socket.AF_INET6 if ":" in host else socket.AF_INET, "daemon_threads": True},
    )
    server = server_cls((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, name=f"prometheus-exporter-{port}", daemon=True)
    thread.start()
    return server, thread


@dataclass
class Exporter:
    """A running exporter: ``url`` to scrape, ``stop()`` to end it (idempotent)."""

    host: str
    port: int
    collector: SnapshotCollector
    renderer: SnapshotRenderer
    _server: ThreadingHTTPServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/metrics"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)
        self.collector.close()
        with _RUNNING_LOCK:
            if _RUNNING.get((self.host, self.port)) is self:
                del _RUNNING[(self.host, self.port)]

    def __enter__(self) -> Exporter:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "serving" if self.running else "stopped"
        return f"<Exporter {state} {self.url}>"


# (host, port) -> running exporter. Strong references: a server runs until stopped, even when
# the caller dropped its handle, and must stay reachable to be stopped.
_RUNNING: dict[tuple[str, int], Exporter] = {}
_RUNNING_LOCK = threading.Lock()


def start_exporter(sampler, address: str | int | None = None, *, max_age_s: float | None = None) -> Exporter:
    """Serve ``sampler``'s metrics on ``address`` (see :func:`parse_address`;
    default ``127.0.0.1:9400``) and return the running :class:`Exporter`.

    The sampler should be running (``sampler.start()``): the exporter only
    publishes what the sampler reads. A notebook cell run twice must not leave
    servers behind, so this first stops the exporter of this process already on
    the same address, and any exporter of an older sampler of the same name
    (the sampler that a new ``Sampler(name=...)`` replaced).
    """
    host, port = parse_address(address)
    with _RUNNING_LOCK:
        old = [
            e
            for e in _RUNNING.values()
            if (port and (e.host, e.port) == (host, port))
            or (
                sampler.name is not None
                and e.collector.sampler is not sampler
                and e.collector.sampler.name == sampler.name
            )
        ]
    for exporter in old:
        exporter.stop()
    collector = SnapshotCollector(sampler, max_age_s=max_age_s)
    renderer = SnapshotRenderer(collector)
    try:
        server, thread = _serve(host, port, renderer)
    except OSError as exc:
        collector.close()
        raise OSError(
            exc.errno,
            f"cannot listen on {host}:{port}: {exc.strerror}. Another program "
            f"(another exporter, or dcgm-exporter) may hold the port: choose another with "
            f"--prometheus {host}:PORT, or port 0 for any free one.",
        ) from exc
    exporter = Exporter(host, server.server_address[1], collector, renderer, server, thread)
    with _RUNNING_LOCK:
        _RUNNING[(host, exporter.port)] = exporter
    return exporter
