"""Self-verification: every export runs its artifact in its own runtime and compares it with the Keras model.

The artifact is written to a hidden folder beside OUT (`hat_keras.staging`), checked, and only then put in
place with its `export_report.json`. A failed check raises `ExportVerificationError` and leaves nothing behind.
"""
import dataclasses
import os
import time

import numpy as np

from hat_keras.exporting.source import ExportError, write_json

REPORT_NAME = "export_report.json"
# fp32 artifacts must match the Keras logits; quantized ones must agree on the predicted class.
TOLERANCES = {
    None: {"max_abs_diff": 1e-4},
    "float16": {"min_agreement": 0.99},
    "dynamic": {"min_agreement": 0.99},
    "w8a8": {"min_agreement": 0.99},
    "w8a16": {"min_agreement": 0.99},
    "mixed": {"min_agreement": 0.99},
}


class ExportVerificationError(ExportError):
    """The artifact ran but disagreed with the Keras model beyond tolerance (report attached)."""

    def __init__(self, message, report):
        super().__init__(message)
        self.report = report


@dataclasses.dataclass
class Samples:
    token_ids: np.ndarray
    padding_mask: np.ndarray
    texts: list = None
    kind: str = "synthetic"

    def __len__(self):
        return len(self.token_ids)

    def inputs(self, i=None):
        if i is None:
            return {"token_ids": self.token_ids, "padding_mask": self.padding_mask}
        return {"token_ids": self.token_ids[i:i + 1], "padding_mask": self.padding_mask[i:i + 1]}

    def head(self, n):
        return Samples(self.token_ids[:n], self.padding_mask[:n], self.texts[:n] if self.texts else None, self.kind)


def synthetic_documents(source, n=16, seed=0):
    """Random token documents of varied length, segmented like the uniform tokenizer (CLS per segment, pads)."""
    rng = np.random.default_rng(seed)
    N, K = source.max_segments, source.segment_length
    b = source.backbone
    pad, vocab = int(b.pad_token_id), int(b.vocabulary_size)
    cls = min(101, vocab - 1)
    ids = np.full((n, N, K), pad, np.int32)
    mask = np.zeros((n, N, K), np.int32)
    for i in range(n):
        length = int(rng.integers(1, N * (K - 1) + 1)) if i else N * (K - 1)  # the first one is full
        body = rng.integers(pad + 1, vocab, length).astype(np.int32)
        for s in range(N):
            chunk = body[s * (K - 1):(s + 1) * (K - 1)]
            if len(chunk):
                ids[i, s, 0], mask[i, s, 0] = cls, 1
                ids[i, s, 1:1 + len(chunk)], mask[i, s, 1:1 + len(chunk)] = chunk, 1
    return Samples(ids.reshape(n, N * K), mask.reshape(n, N * K), kind="synthetic")


def text_documents(encoder, texts):
    enc = encoder.encode(texts)
    return Samples(enc["token_ids"], enc["padding_mask"], texts=list(texts), kind="text")


def compare(reference, candidate):
    """Max/mean abs diff of logits and argmax agreement."""
    reference, candidate = np.asarray(reference, np.float64), np.asarray(candidate, np.float64)
    if reference.shape != candidate.shape:
        return {"max_abs_diff": float("inf"), "mean_abs_diff": float("inf"), "prediction_agreement": 0.0,
                "shape_mismatch": [list(reference.shape), list(candidate.shape)]}
    diff = np.abs(reference - candidate)
    finite = bool(np.all(np.isfinite(candidate)))
    return {"max_abs_diff": float(diff.max()) if finite else float("inf"),
            "mean_abs_diff": float(diff.mean()) if finite else float("inf"),
            "prediction_agreement": float(np.mean(reference.argmax(-1) == candidate.argmax(-1))),
            "num_samples": int(len(reference))}


def check_tolerance(metrics, tolerance):
    """List of failed conditions (empty when the artifact passes)."""
    failures = []
    if tolerance.get("max_abs_diff") is not None and not metrics["max_abs_diff"] <= tolerance["max_abs_diff"]:
        failures.append(f"max abs diff {metrics['max_abs_diff']:.3g} > {tolerance['max_abs_diff']:.3g}")
    if tolerance.get("min_agreement") is not None and not metrics["prediction_agreement"] >= tolerance["min_agreement"]:
        failures.append(f"prediction agreement {metrics['prediction_agreement']:.3f} < "
                        f"{tolerance['min_agreement']:.3f}")
    return failures


def latency_summary(seconds):
    ms = np.asarray(seconds, np.float64) * 1e3
    return {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)), "runs": int(len(ms))}


def timed(fn, n_warmup=1):
    """Call fn() once to warm up, then return (result, seconds) of a second call."""
    for _ in range(n_warmup):
        fn()
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def path_size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def inside(root, relative):
    """`root/relative`, or ExportError when that path would leave `root` (an absolute path or `..`): every
    file of an export stays inside OUT."""
    path = os.path.normpath(os.path.join(root, relative))
    if os.path.isabs(relative) or os.path.commonpath([os.path.normpath(root), path]) != os.path.normpath(root):
        raise ExportError(f"{relative!r}: an export's files must stay inside OUT")
    return path


def verified_export(out_dir, artifact, write, run, source, samples, tolerance, fmt, quantize=None, log=print,
                    extra=None, files=()):
    """Write into the staging folder beside OUT, run, compare, then put it in place of OUT in one rename
    (the whole folder: `artifact`, the report and any `files` that `write` put there).

    out_dir: a `hat_keras.staging.Staging` (what `export_model` passes), or a path (refused if it exists).
    write(tmp_dir) -> dict of report extras; run(artifact_path, samples) -> (logits, per-sample seconds, info).
    """
    from hat_keras.staging import OutputExists, Staging
    own = not isinstance(out_dir, Staging)
    try:
        staging = Staging(out_dir).__enter__() if own else out_dir
    except OutputExists as e:
        raise ExportError(str(e)) from None
    tmp = staging.path
    try:
        log(f"[export] writing {fmt}{'/' + quantize if quantize else ''} ...")
        t0 = time.perf_counter()
        written = write(tmp) or {}
        export_seconds = time.perf_counter() - t0
        tmp_artifact = inside(tmp, artifact)
        if not os.path.exists(tmp_artifact):
            raise ExportError(f"{fmt}: the converter produced no {artifact}")
        log(f"[export] verifying {artifact} on {len(samples)} {samples.kind} documents ...")
        reference = source.logits(samples.token_ids, samples.padding_mask)
        try:
            candidate, seconds, info = run(tmp_artifact, samples)
        except ExportError:
            raise
        except Exception as e:  # the artifact does not load or run: that is a verification failure
            report = {"format": fmt, "quantization": quantize, "passed": False,
                      "failures": [f"runtime error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"]}
            raise ExportVerificationError(f"{fmt}: verification failed: {report['failures'][0]}", report) from e
        metrics = compare(reference, candidate)
        failures = check_tolerance(metrics, tolerance)
        report = {"format": fmt, "quantization": quantize, "artifact": artifact, "passed": not failures,
                  "size_bytes": int(path_size(tmp_artifact)), **metrics,
                  "latency_ms_batch1": latency_summary(seconds), "tolerance": tolerance,
                  "samples": samples.kind, "export_seconds": round(export_seconds, 2),
                  "geometry": source.geometry(), "labels": source.labels, **(info or {}), **written, **(extra or {})}
        if failures:
            report["failures"] = failures
            raise ExportVerificationError(f"{fmt}{'/' + quantize if quantize else ''}: verification failed: "
                                          + "; ".join(failures), report)
        write_json(os.path.join(tmp, REPORT_NAME), report)
        out_dir = staging.commit()
        report["artifact_path"] = os.path.join(out_dir, artifact)
        report["report_path"] = os.path.join(out_dir, REPORT_NAME)
        log(f"[export] ok: {report['artifact_path']} ({report['size_bytes'] / 1e6:.2f} MB, "
            f"max abs diff {report['max_abs_diff']:.2e}, agreement {report['prediction_agreement']:.3f}, "
            f"{report['latency_ms_batch1']['median']:.2f} ms/doc)")
        return report
    finally:
        if own:
            staging.close()
