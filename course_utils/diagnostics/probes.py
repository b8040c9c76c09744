"""Ask PyTorch and TensorFlow about GPUs in a child process.

A child process keeps the learner's kernel clean: importing TensorFlow there
would not grab GPU memory or clash with PyTorch, and a framework that crashes
or hangs on a broken driver takes only the child down.
"""

from __future__ import annotations

import json
import subprocess
import sys

TORCH_PROBE = r"""
import json
out = {}
try:
    import torch
except Exception as e:
    out = {"installed": False, "error": repr(e)}
else:
    out = {"installed": True, "version": torch.__version__, "cuda_runtime": torch.version.cuda,
           "arch_list": []}
    try:
        out["available"] = torch.cuda.is_available()
        out["device_count"] = torch.cuda.device_count()
        if out["available"]:
            out["arch_list"] = torch.cuda.get_arch_list()
            out["devices"] = [{"name": torch.cuda.get_device_name(i),
                               "capability": list(torch.cuda.get_device_capability(i))}
                              for i in range(out["device_count"])]
    except Exception as e:
        out["available"] = False
        out["error"] = repr(e)
print("PROBE-RESULT " + json.dumps(out))
"""

TF_PROBE = r"""
import json, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
out = {}
try:
    import tensorflow as tf
except Exception as e:
    out = {"installed": False, "error": repr(e)}
else:
    info = tf.sysconfig.get_build_info()
    out = {"installed": True, "version": tf.__version__,
           "built_with_cuda": bool(tf.test.is_built_with_cuda()),
           "cuda_runtime": info.get("cuda_version"), "cudnn": info.get("cudnn_version"),
           "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}
print("PROBE-RESULT " + json.dumps(out))
"""


def run_probe(code: str, timeout: float = 120.0) -> dict:
    """Run ``code`` in a fresh interpreter; return its JSON result or an error dict."""
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {
            "installed": None,
            "error": f"the probe did not finish within {timeout:.0f} s "
            "(a hung driver call is a classic symptom of a broken GPU setup)",
        }
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("PROBE-RESULT "):
            return json.loads(line[len("PROBE-RESULT ") :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"installed": None, "error": f"the probe exited with {proc.returncode}: " + " | ".join(tail)}
