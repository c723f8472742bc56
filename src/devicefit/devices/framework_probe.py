"""Probes one framework in a process of its own: ``python framework_probe.py NAME`` prints one JSON line.

It imports nothing of devicefit (it runs by path, under whatever Python the user has), so that a
framework whose import crashes or hangs takes down only this process. Each probe reports the
version, the build, the devices the framework sees, and whether a tiny operation runs on a GPU.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sys
from typing import Any

#: Distributions that provide each framework (more than one installed is itself a problem).
DISTRIBUTIONS = {
    "torch": ("torch",),
    "jax": ("jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda13-plugin", "jax-rocm-plugin"),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel"),
    "cupy": ("cupy", "cupy-cuda11x", "cupy-cuda12x", "cupy-cuda13x", "cupy-rocm-5-0"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino"),
}


def _installed(name: str) -> list[str]:
    found = []
    for dist in DISTRIBUTIONS[name]:
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(dist)
    return found


def _dotted(code: int) -> str:
    """CUDA's integer versions: 12040 is 12.4."""
    return f"{code // 1000}.{code % 1000 // 10}"


def probe_torch() -> dict[str, Any]:
    """PyTorch: version, build, devices, and a tiny operation on the first GPU."""
    import torch

    cuda, hip = torch.version.cuda, getattr(torch.version, "hip", None)
    out: dict[str, Any] = {
        "version": str(torch.__version__),
        "build": f"rocm {hip}" if hip else f"cuda {cuda}" if cuda else "cpu",
        "cuda_version": cuda,
        "arch_list": list(torch.cuda.get_arch_list()) if cuda or hip else [],
        "devices": ["cpu"],
    }
    if torch.cuda.is_available():
        out["devices"] += [
            f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())
        ]
        try:
            x = torch.ones((64, 64), device="cuda")
            # Reading the value back waits for the kernel: an unsupported architecture fails here.
            out["gpu_works"] = float((x @ x).sum().item()) == 64.0**3
        except Exception as error:
            out["gpu_works"], out["detail"] = False, f"{type(error).__name__}: {error}"
    return out


def probe_jax() -> dict[str, Any]:
    """JAX: version, build, devices, and a tiny operation on the first GPU."""
    import jax

    devices = jax.devices()
    plugins = [d for d in _installed("jax") if "plugin" in d]
    out: dict[str, Any] = {
        "version": jax.__version__,
        "build": plugins[0].replace("jax-", "").replace("-plugin", "") if plugins else "cpu",
        "devices": [f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in devices],
    }
    gpus = [d for d in devices if d.platform in ("gpu", "cuda", "rocm")]
    if gpus:
        import jax.numpy as jnp

        try:
            out["gpu_works"] = float(jax.device_put(jnp.ones(64), gpus[0]).sum()) == 64.0
        except Exception as error:
            out["gpu_works"], out["detail"] = False, f"{type(error).__name__}: {error}"
    return out


def probe_tensorflow() -> dict[str, Any]:
    """TensorFlow: version, build, devices, and a tiny operation on the first GPU."""
    import tensorflow as tf

    info = dict(tf.sysconfig.get_build_info())
    cuda = info.get("cuda_version") if info.get("is_cuda_build") else None
    gpus = tf.config.list_physical_devices("GPU")
    out: dict[str, Any] = {
        "version": tf.__version__,
        "build": f"rocm {info.get('rocm_version')}"
        if info.get("is_rocm_build")
        else f"cuda {cuda}"
        if cuda
        else "cpu",
        "cuda_version": cuda,
        "devices": [d.name for d in tf.config.list_physical_devices()],
    }
    if gpus:
        try:
            with tf.device("/GPU:0"):
                out["gpu_works"] = float(tf.reduce_sum(tf.ones(64))) == 64.0
        except Exception as error:
            out["gpu_works"], out["detail"] = False, f"{type(error).__name__}: {error}"
    return out


def probe_cupy() -> dict[str, Any]:
    """CuPy: version, build, devices, and a tiny operation on the first GPU."""
    import cupy

    out: dict[str, Any] = {"version": cupy.__version__, "devices": []}
    runtime = cupy.cuda.runtime
    try:
        version = runtime.runtimeGetVersion()
        out["cuda_version"] = _dotted(version)
        out["build"] = f"{'rocm' if getattr(runtime, 'is_hip', False) else 'cuda'} {_dotted(version)}"
        count = runtime.getDeviceCount()
        out["devices"] = [f"cuda:{i}" for i in range(count)]
        out["gpu_works"] = float(cupy.ones(64).sum()) == 64.0 if count else None
    except Exception as error:
        out["gpu_works"], out["detail"] = (
            (False if out["devices"] else None),
            f"{type(error).__name__}: {error}",
        )
    return out


def probe_onnxruntime() -> dict[str, Any]:
    """ONNX Runtime: version, build, devices, and a tiny operation on the first GPU."""
    import onnxruntime as ort

    providers = list(ort.get_available_providers())
    out: dict[str, Any] = {
        "version": ort.__version__,
        "build": "cuda" if "CUDAExecutionProvider" in providers else ort.get_device().lower(),
        "providers": providers,
        "devices": [ort.get_device()],
    }
    if "CUDAExecutionProvider" in providers:
        if importlib.util.find_spec("onnx") is None:
            out["detail"] = "a session was not tried: it needs the onnx package to build a test graph"
            return out
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            [helper.make_node("Add", ["x", "x"], ["y"])],
            "probe",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CUDAExecutionProvider", "CPUExecutionProvider"]
        )
        # The session falls back to the CPU silently when the CUDA provider fails to load.
        out["gpu_works"] = session.get_providers()[0] == "CUDAExecutionProvider"
    return out


PROBES = {
    "torch": probe_torch,
    "jax": probe_jax,
    "tensorflow": probe_tensorflow,
    "cupy": probe_cupy,
    "onnxruntime": probe_onnxruntime,
}


def main(name: str) -> None:
    """Prints the probe of ``name`` as one JSON line; a missing framework is ``status: missing``."""
    if importlib.util.find_spec(name) is None:
        print(json.dumps({"status": "missing"}))
        return
    result = {"status": "ok", "packages": _installed(name), **PROBES[name]()}
    print(json.dumps(result))


if __name__ == "__main__":
    # Run as a script, this file's folder comes first on sys.path, where devicefit's own amdsmi.py and
    # cuda.py would hide the packages of those names that frameworks import (torch's ROCm build imports
    # amdsmi): drop it before probing.
    sys.path.pop(0)
    main(sys.argv[1])
