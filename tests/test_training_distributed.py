"""The one training path under tf.distribute: MirroredStrategy over two logical CPUs, single-device XLA with
steps_per_execution > 1, MultiWorkerMirroredStrategy with two processes, and SIGKILL + resume."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
JOB = os.path.join(HERE, "train_tiny_job.py")


def _env(**extra):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": HERE + os.pathsep + os.path.dirname(HERE)}
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _job(out, *flags, env=None, timeout=300):
    proc = subprocess.run([sys.executable, JOB, "--out", str(out), *flags], capture_output=True, text=True,
                          env=env or _env(), timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return _result(proc.stdout)


def _result(stdout):
    line = [l for l in stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_mirrored_two_logical_cpus_trains(tmp_path):
    r = _job(tmp_path, "--strategy", "mirrored", "--logical-cpus", "2", "--max-steps", "30",
             "--checkpoint-every", "10", "--batch-size", "4")
    assert r["replicas"] == 2 and r["steps"] == 30
    assert r["loss"][-1] < r["loss"][0] - 0.3, r["loss"]
    assert os.path.exists(tmp_path / "best.keras") and os.path.exists(tmp_path / "hf" / "model.safetensors")


def test_single_device_xla_with_steps_per_execution(tmp_path):
    r = _job(tmp_path, "--strategy", "cpu", "--jit-compile", "--steps-per-execution", "4", "--max-steps", "40",
             "--checkpoint-every", "20", "--batch-size", "8")
    assert r["replicas"] == 1 and r["steps"] == 40
    assert r["loss"][-1] < r["loss"][0] - 0.3, r["loss"]


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multiworker_two_processes_identical_weights(tmp_path):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for i in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
        procs.append(subprocess.Popen(
            [sys.executable, JOB, "--out", str(tmp_path / "run"), "--strategy", "multiworker", "--max-steps", "10",
             "--checkpoint-every", "5", "--batch-size", "2", "--weights-out", str(tmp_path / f"w{i}.npz")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(TF_CONFIG=tf_config)))
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=420)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-3000:]
    results = [_result(o) for o in outs]
    assert all(r["steps"] == 10 and r["replicas"] == 2 for r in results)
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert len(w0.files) == len(w1.files) > 10
    for k in w0.files:
        np.testing.assert_array_equal(w0[k], w1[k])
    assert results[0]["loss"] == results[1]["loss"]  # logs are the mean over workers, the same everywhere
    assert results[0]["loss"][-1] < results[0]["loss"][0]


def test_sigkill_mid_epoch_resumes_from_last_checkpoint(tmp_path):
    total, interval = 40, 5
    flags = ["--strategy", "cpu", "--max-steps", str(total), "--checkpoint-every", str(interval), "--batch-size", "4"]
    proc = subprocess.Popen([sys.executable, JOB, "--out", str(tmp_path), *flags, "--sleep", "0.15"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
    progress, killed_at = tmp_path / "progress", None
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if progress.exists():
                try:
                    step = int(progress.read_text() or 0)
                except ValueError:
                    step = 0
                if step >= 17 and step % interval not in (0,):  # mid-interval, after 3 checkpoints
                    os.kill(proc.pid, signal.SIGKILL)
                    killed_at = step
                    break
            time.sleep(0.05)
    finally:
        if proc.poll() is None and killed_at is None:
            proc.kill()
        proc.wait(timeout=30)
    assert killed_at is not None, "the job finished or stalled before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    state = json.loads((tmp_path / "train_state.json").read_text())
    assert state["step"] % interval == 0 and state["step"] < total

    resumed = subprocess.run([sys.executable, JOB, "--out", str(tmp_path), *flags], capture_output=True,
                             text=True, env=_env(), timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    start = json.loads([l for l in resumed.stdout.splitlines() if l.startswith('{"resumed_step"')][0])
    assert killed_at - interval <= start["resumed_step"] <= killed_at  # lost at most one interval
    assert _result(resumed.stdout)["steps"] == total  # the same step count as an uninterrupted run
    assert json.loads((tmp_path / "train_state.json").read_text())["step"] == total
