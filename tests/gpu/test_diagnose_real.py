"""doctor's proof and a watch of a training script on a real GPU, skipped without CUDA.

With ``DEVICEFIT_RECORD_DIR`` set, each test writes what it saw there as JSON (for ``tests/data/``).
"""

import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest

from devicefit.app.doctor import doctor
from devicefit.app.watch import watch
from devicefit.report.doctor import doctor_to_dict
from devicefit.report.watch import watch_to_dict
from devicefit.store.sqlite import open_store

pytestmark = pytest.mark.gpu

GPU_TRAIN = """
import torch
model = torch.nn.Sequential(torch.nn.Linear(4096, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 10)).cuda()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for step in range(300):
    x = torch.randn(512, 4096, device="cuda"); y = torch.randint(0, 10, (512,), device="cuda")
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
    if step % 10 == 0:
        print(f"step {step} loss {loss.item():.3f}", flush=True)
"""


def record(name, data):
    folder = os.environ.get("DEVICEFIT_RECORD_DIR")
    if folder:
        Path(folder, name).write_text(json.dumps(data, indent=2))


def test_doctor_proves_the_gpu_faster_than_the_cpu_on_the_large_product():
    outcome = doctor(frameworks=("torch",))
    record("doctor_gpu.json", doctor_to_dict(outcome))
    (torch_probe,) = outcome.frameworks
    assert torch_probe.gpu_works is True and torch_probe.build != "cpu"
    assert outcome.system.gpus
    assert {t.device for t in outcome.proof} >= {"cpu", "cuda:0"}
    assert not [f for f in outcome.findings if f.rule != "gpu_slower_than_cpu"], outcome.findings
    assert doctor_to_dict(outcome)["proof"]["sentence"].startswith(
        ("the GPU cuda:0 runs", "cuda:0 is slower")
    )


def test_watch_of_a_gpu_training_script_sees_the_gpu_used(tmp_path):
    script = tmp_path / "train_gpu.py"
    script.write_text(GPU_TRAIN)
    with open_store(tmp_path / "watch.db") as store:
        outcome = watch(
            [sys.executable, str(script)], store, interval_s=0.2, steps_regex=r"step (\d+)", quiet_output=True
        )
    record(
        "watch_gpu.json",
        watch_to_dict(outcome) | {"sample_records": [dataclasses.asdict(s) for s in outcome.samples]},
    )
    assert outcome.status == "complete" and outcome.gpu_used
    assert any(g.tree_memory_bytes for s in outcome.samples for g in s.gpus)
    assert any(f.finding.startswith("GPU 0") for f in outcome.diagnosis)
    assert outcome.step_rate is not None and outcome.step_rate.num_steps >= 100
