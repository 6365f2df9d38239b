"""One strategy factory for every place HAT trains: TPU VMs and Cloud TPUs, local GPUs, TF_CONFIG
clusters and CPUs. The training code is the same for all of them (`strategy.scope()` + `fit`)."""
import json
import logging
import os

import tensorflow as tf

from hat_keras import compat
from hat_keras.training.distribution import tpu_present

logger = logging.getLogger("hat_keras")

STRATEGIES = ("auto", "cpu", "one_device", "mirrored", "multiworker", "tpu", "data_parallel")


def set_logical_cpus(n):
    """Split the first physical CPU into `n` logical devices (a multi-replica proxy for tests and laptops).

    Must run before TensorFlow executes any op; afterwards TF refuses to change devices.
    """
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * int(n))
    except RuntimeError as e:
        raise RuntimeError(f"cannot split the CPU into {n} devices: TensorFlow is already initialised "
                           f"(call set_logical_cpus before any op) ({e})") from None


def get_strategy(name="auto", tpu=None, devices=None):
    """A `tf.distribute.Strategy` by name.

    name: "tpu" (TPUClusterResolver: `tpu="local"` on TPU VMs such as Colab/Kaggle, a Cloud TPU name or
      grpc:// address otherwise), "mirrored" (every local GPU, or `devices`), "multiworker" (cluster from
      the TF_CONFIG environment variable), "cpu"/"one_device" (one device), "auto" (tpu when TPU_NAME or a
      local TPU is present, mirrored when there are several GPUs, else the default strategy).
    Under KERAS_BACKEND=jax: "auto" or "data_parallel" -> `keras.distribution.DataParallel` over every JAX
      device, "cpu"/"one_device" -> the first JAX device (see `hat_keras.training.distribution`).
    """
    name = (name or "auto").lower().replace("-", "_")
    if name not in STRATEGIES:
        raise ValueError(f"strategy={name!r}; choose one of {', '.join(STRATEGIES)}")
    from hat_keras.training import distribution

    if distribution.is_jax_backend():
        return distribution.jax_strategy(name, devices)
    if name == "data_parallel":
        raise ValueError("strategy='data_parallel' (keras.distribution over JAX devices) needs KERAS_BACKEND=jax; "
                         "under TensorFlow use auto, mirrored, multiworker or tpu")
    if name == "auto":
        name = _auto()
    if name == "tpu":
        return tpu_strategy(tpu)
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("strategy=multiworker needs the TF_CONFIG environment variable (cluster and task)")
        json.loads(os.environ["TF_CONFIG"])  # a clear JSON error here rather than deep inside TF
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    return tf.distribute.get_strategy()  # "cpu": the default (no-op) strategy


def tpu_strategy(tpu=None):
    """TPUStrategy via TPUClusterResolver. `tpu`: "local" (TPU VM), a Cloud TPU name, "grpc://host:port", or
    None (TPU_NAME, else "local")."""
    tpu = tpu if tpu is not None else os.environ.get("TPU_NAME", "local")
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    if tpu not in ("", "local"):  # legacy TPU Nodes: the TPU workers are remote
        tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    strategy = tf.distribute.TPUStrategy(resolver)
    logger.info("TPU %s: %d replicas", tpu, strategy.num_replicas_in_sync)
    return strategy


def _auto():
    if tpu_present():
        return "tpu"
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return "mirrored"
    return "cpu"


def is_chief(strategy=None):
    """True on the worker that writes shared outputs (always True outside multi-worker training)."""
    if hasattr(strategy, "process_index"):  # keras.distribution on JAX: process 0
        return strategy.process_index == 0
    resolver = _resolver(strategy)
    if resolver is None:
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    return task_type == "worker" and task_id == 0 and not has_chief


def worker_id(strategy=None):
    if hasattr(strategy, "process_index"):
        return strategy.process_index
    resolver = _resolver(strategy)
    return 0 if resolver is None else int(resolver.task_id or 0)


def num_workers(strategy=None):
    """Input pipelines (hosts/workers) feeding the strategy."""
    if hasattr(strategy, "process_count"):
        return strategy.process_count
    return int(getattr(getattr(strategy, "extended", None), "_num_workers", 1) or 1)


def _resolver(strategy):
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None
    return getattr(strategy, "cluster_resolver", None)


def is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and num_workers(strategy) > 1


def multi_worker_fit_fixes(model, strategy):
    """Make Keras 3 `fit`/`evaluate` work under MultiWorkerMirroredStrategy with several workers (this model
    instance only; a no-op for any other strategy). The patches and the bugs they work around: `compat`."""
    if not is_multi_worker(strategy):
        return model

    def local_values(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    return compat.multi_worker_fit_fixes(model, strategy, local_values)
