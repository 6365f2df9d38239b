"""The run record (`OUTPUT_DIR/run.json`): the settings a training run was started with.

A rerun into the same output folder resumes only when it is the same run: same model (architecture and
starting checkpoint), batch size, checkpoint interval, step count, sequence geometry, optimizer settings,
seed and training data (every file's size and SHA-256). Anything else would not continue the run but
silently train a different one (the data position, the learning-rate schedule and the restored weights all
depend on these), so the rerun is refused with one line naming each setting that changed and how to start
fresh (`--overwrite`, or a new `--output` folder). Settings that only observe the run (evaluation data,
monitor, TensorBoard, verbosity, steps per execution, XLA, the strategy when the global batch is the same)
may change.
"""
import contextlib
import datetime
import errno
import hashlib
import json
import logging
import os

import tensorflow as tf

from hat_keras.models import HATTask
from hat_keras.training import callbacks as cb
from hat_keras.training.callbacks import ResumeError  # noqa: F401  (raised here too)
from hat_keras.training.strategy import is_chief

logger = logging.getLogger("hat_keras")

RECORD_NAME = "run.json"
LOCK_NAME = ".lock"  # held (flock) while a run writes the folder; the kernel drops it when the process dies
# What a run writes into its output folder (all that `--overwrite` deletes; nothing else there is touched).
RUN_OUTPUTS = ("backup", "logs", "best.keras", "hf", "results.json", "train_state.json", RECORD_NAME)
# Files up to this size are hashed whole; larger ones (streamed corpora) by their size, first and last MiBs.
FULL_HASH_BYTES = 64 << 20
SAMPLE_BYTES = 8 << 20
FRESH = "start fresh with --overwrite (deletes its checkpoints, logs and results) or a new --output folder"

# setting -> how the message names it (the flag that sets it)
COMPARED = {
    "task": "task",
    "model": "model (--model)",
    "global_batch_size": "batch size (--batch-size x replicas)",
    "checkpoint_interval": "checkpoint interval (--checkpoint-every)",
    "total_steps": "total steps (--max-steps / --epochs)",
    "sequence": "sequence geometry (segments x tokens)",
    "bucketing": "batches bucketed by segment count (--no-bucketing)",
    "seed": "seed (--seed)",
    "learning_rate": "learning rate (--learning-rate)",
    "warmup_ratio": "warmup ratio (--warmup-ratio)",
    "weight_decay": "weight decay (--weight-decay)",
    "precision": "precision (--precision)",
    "mask_rate": "mask rate (--mask-rate)",
    "text_field": "text field (--text-field)",
    "label_field": "label field (--label-field)",
    "labels": "label names (from the data)",
    "training_data": "training data (--train)",
}


# ------------------------------------------------------------------------------------- fingerprints

def file_fingerprint(path):
    """{"size", "sha256"} of one file (local or gs://); files over FULL_HASH_BYTES are hashed from their
    size and first and last SAMPLE_BYTES ("sha256_sampled"), so a start never reads a whole corpus."""
    size = int(tf.io.gfile.stat(path).length)
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as f:
        if size <= FULL_HASH_BYTES:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
            return {"size": size, "sha256": digest.hexdigest()}
        digest.update(str(size).encode())
        digest.update(f.read(SAMPLE_BYTES))
        f.seek(size - SAMPLE_BYTES)
        digest.update(f.read(SAMPLE_BYTES))
    return {"size": size, "sha256_sampled": digest.hexdigest()}


def _files_under(paths):
    from hat_keras.training.data import expand_paths

    files = []
    for p in expand_paths(paths):
        if tf.io.gfile.isdir(p):
            for root, _, names in tf.io.gfile.walk(p):
                files += [os.path.join(root, n) for n in sorted(names)]
        else:
            files.append(p)
    return sorted(files)


def data_fingerprint(paths):
    """{absolute path: fingerprint} of every file behind `paths` (folders walked), in reading order: resume
    compares the fingerprints in order, so the same bytes at other paths are the same data."""
    out = {}
    for f in _files_under(paths):
        key = f if "://" in f else os.path.abspath(f)
        out[key] = file_fingerprint(f)
    return out


def _architecture(model):
    backbone = getattr(model, "backbone", model)
    config = {k: v for k, v in backbone.get_config().items() if k not in ("name", "trainable")}
    arch = {"class": type(model).__name__, "backbone": config}
    for attr in ("num_classes", "pooling", "problem_type"):
        value = getattr(model, attr, None)
        if value is not None and not callable(value):
            arch[attr] = value
    return arch


def model_fingerprint(model, model_dir=None):
    """The model's architecture (task, backbone config, head) and, when it was loaded from a checkpoint
    folder, that folder's config and weights files."""
    arch = _architecture(model)
    fp = {"class": arch["class"], "layout": arch["backbone"].get("layout"),
          "architecture_sha256": hashlib.sha256(json.dumps(arch, sort_keys=True, default=str).encode()).hexdigest()}
    if arch["backbone"].get("compact"):  # only when set, so records of earlier (non-compact) runs still match
        fp["compact"] = True
    if model_dir:
        from hat_keras.convert.checkpoint import find_weights

        weights = find_weights(model_dir)
        files = [os.path.join(model_dir, "config.json"), weights]
        if weights.endswith(".index.json"):
            with open(weights, encoding="utf-8") as f:
                files += sorted({os.path.join(model_dir, s) for s in json.load(f)["weight_map"].values()})
        fp["checkpoint"] = {os.path.abspath(f): file_fingerprint(f) for f in files}
    return fp


def task_name(task):
    """The canonical registry name of a task (name, alias or class); runs recorded before the registry
    named their task "mlm" / "classify", which resolve as aliases. Unknown names come back as they are."""
    try:
        return HATTask.resolve(task).task_names[0]
    except (ValueError, AttributeError):
        return task


def run_settings(task, args, model, examples, global_batch_size, replicas, interval, total_steps, bucketed=False):
    """The record of this run (what `COMPARED` lists, plus informational fields); `bucketed`: the batches
    are bucketed by segment count (recorded only then, so earlier records still compare equal)."""
    backbone = model.backbone
    task = HATTask.resolve(task)
    return {
        "task": task.task_names[0],
        "model": model_fingerprint(model, args.model),
        "global_batch_size": int(global_batch_size),
        "batch_size_per_replica": int(args.batch_size),
        "replicas": int(replicas),
        "checkpoint_interval": int(interval),
        "total_steps": int(total_steps),
        "sequence": f"{backbone.max_segments} segments x {backbone.segment_length} tokens",
        "bucketing": True if bucketed else None,
        "seed": args.seed,
        "learning_rate": args.learning_rate,
        "warmup_ratio": args.warmup_ratio,
        "weight_decay": args.weight_decay,
        "precision": args.precision,
        "mask_rate": args.mask_rate if "mask_rate" in task.train_options else None,
        "text_field": args.text_field,
        "label_field": task.data_fields(args)[1],
        "labels": examples.label_names,
        "training_data": (data_fingerprint(args.train_data) if args.train_data else
                          {"given in code": {"examples": examples.num_examples}}),
    }


# ----------------------------------------------------------------------------------------- compare

def _short(value):
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def _same_content(old, new):
    """Fingerprint maps (path -> size and hash) naming the same bytes in the same order: a run resumes
    from byte-identical files at another path (moved or copied data, a re-downloaded checkpoint)."""
    return list((old or {}).values()) == list((new or {}).values())


def _model_change(old, new):
    if old.get("class") != new.get("class") or old.get("layout") != new.get("layout"):
        return f"{old.get('class')} {old.get('layout')} -> {new.get('class')} {new.get('layout')}"
    if bool(old.get("compact")) != bool(new.get("compact")):
        return f"compact {bool(old.get('compact'))} -> {bool(new.get('compact'))} (--compact)"
    if old.get("architecture_sha256") != new.get("architecture_sha256"):
        return "another architecture (head, geometry or sizes)"
    old_ck, new_ck = old.get("checkpoint") or {}, new.get("checkpoint") or {}
    if sorted(old_ck) != sorted(new_ck):
        return (f"checkpoint {', '.join(sorted(old_ck)) or 'none'} -> {', '.join(sorted(new_ck)) or 'none'} "
                "(other content)")
    changed = [p for p in new_ck if old_ck[p] != new_ck[p]]
    return f"{', '.join(changed)} changed since the run started"


def _data_change(old, new):
    added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
    parts = [f"added {', '.join(added)}"] if added else []
    parts += [f"removed {', '.join(removed)}"] if removed else []
    for path in sorted(set(old) & set(new)):
        if old[path] != new[path]:
            a, b = old[path].get("size"), new[path].get("size")
            parts.append(f"{path} changed (" + (f"size {a} -> {b}" if a != b else "same size, other content")
                         + ")")
    return "; ".join(parts)


def changes(old, new):
    """Human-readable differences between two records, one per changed setting."""
    out = []
    for key, label in COMPARED.items():
        a, b = old.get(key), new.get(key)
        if key == "task":
            a, b = task_name(a), task_name(b)
        if a == b:
            continue
        if key == "model" and isinstance(a, dict) and isinstance(b, dict) and _same_content(
                a.get("checkpoint"), b.get("checkpoint")) and {**a, "checkpoint": None} == {**b, "checkpoint": None}:
            continue
        if key == "training_data" and isinstance(a, dict) and isinstance(b, dict) and _same_content(a, b):
            continue
        if key == "model":
            out.append(f"{label}: {_model_change(a or {}, b or {})}")
        elif key == "training_data":
            out.append(f"{label}: {_data_change(a or {}, b or {})}")
        else:
            out.append(f"{label} {_short(a)} -> {_short(b)}")
    return out


# ---------------------------------------------------------------------------------------- the folder

def read_record(output_dir):
    path = os.path.join(output_dir, RECORD_NAME)
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ResumeError(f"{path}: not valid JSON ({e}); {FRESH}") from None


def write_record(output_dir, settings):
    from hat_keras.config import __version__

    tf.io.gfile.makedirs(output_dir)
    record = {"hat_keras": __version__, "started": datetime.datetime.now().isoformat(timespec="seconds"),
              **settings}
    path = os.path.join(output_dir, RECORD_NAME)
    tmp = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(json.dumps(record, indent=1, default=str))
    tf.io.gfile.rename(tmp, path, overwrite=True)


def _trained(output_dir, strategy):
    backup = cb.worker_backup_dir(os.path.join(output_dir, "backup"), strategy)
    return bool(cb.checkpoint_records(backup)) or any(
        tf.io.gfile.exists(os.path.join(output_dir, n)) for n in ("best.keras", "results.json"))


def clear_run(output_dir, strategy=None):
    """Delete what an earlier run wrote here (RUN_OUTPUTS only). With several workers each deletes its own
    checkpoints; the chief deletes the rest."""
    cb.clear_checkpoints(cb.worker_backup_dir(os.path.join(output_dir, "backup"), strategy))
    if not is_chief(strategy):
        return
    for name in RUN_OUTPUTS:
        path = os.path.join(output_dir, name)
        if name == "backup" or not tf.io.gfile.exists(path):
            continue
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        else:
            tf.io.gfile.remove(path)


@contextlib.contextmanager
def locked(output_dir, strategy=None):
    """Hold the output folder for one run: a second run into it (while the first writes checkpoints and
    best.keras) is refused at once instead of both overwriting each other's files. A lock on the folder's
    `.lock` file (flock), so a killed run leaves no stale lock. Only the chief locks (other workers write
    their own sub-folders); object stores (gs://) have no locks and are not locked."""
    if not is_chief(strategy) or "://" in os.fspath(output_dir):
        yield
        return
    import fcntl

    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ResumeError(f"{output_dir}: another training run (pid {holder}) is writing this folder; "
                              "wait for it to end, or train into another --output folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def prepare(output_dir, settings, overwrite=False, strategy=None):
    """Before training: refuse a folder that holds another run, else (chief) write this run's record.

    overwrite: delete an earlier run's outputs first. A folder with a record of other settings but nothing
    trained yet (no checkpoint, no best model) is simply taken over."""
    if overwrite:
        clear_run(output_dir, strategy)
    else:
        old = read_record(output_dir)
        if old is None:
            backup = cb.worker_backup_dir(os.path.join(output_dir, "backup"), strategy)
            if _trained(output_dir, strategy) or any(tf.io.gfile.exists(os.path.join(backup, n))
                                                     for n in cb.LEGACY_FILES):
                raise ResumeError(f"{output_dir}: holds checkpoints or results but no {RECORD_NAME} (an earlier "
                                  f"version's run?), so resuming cannot be checked; {FRESH}")
        else:
            diff = changes(old, settings)
            if diff and _trained(output_dir, strategy):
                raise ResumeError(f"{output_dir}: holds a run with other settings, so it cannot be resumed: "
                                  + "; ".join(diff) + f". Rerun with the original settings to resume, or {FRESH}")
            if not diff:
                return  # the same run: keep its record (and start time)
            logger.info("%s: nothing trained yet under the earlier settings; starting with the new ones", output_dir)
            clear_run(output_dir, strategy)
    if is_chief(strategy):
        write_record(output_dir, settings)
