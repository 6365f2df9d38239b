"""Training on the Keras JAX backend: `keras.distribution.DataParallel` over every JAX device (TPU cores, GPUs,
or virtual CPU devices), behind the small strategy interface the recipes use (`scope()`,
`num_replicas_in_sync`). The recipes, the tf.data pipelines (run on the host CPU) and the callbacks are the
same as under tf.distribute; only the placement differs: the pipeline yields *global* batches and Keras' JAX
trainer splits each one along the batch axis across the devices, with every variable replicated.
"""
import logging
import os

import keras

logger = logging.getLogger("hat_keras")

TF_STRATEGIES = ("mirrored", "multiworker", "tpu")


def tpu_present():
    """A Cloud TPU named in TPU_NAME, or a TPU VM's local chips."""
    return bool(os.environ.get("TPU_NAME")) or os.path.exists("/dev/accel0") or os.path.exists("/dev/vfio/0")


def is_jax_backend():
    return keras.config.backend() == "jax"


class DataParallelStrategy:
    """`keras.distribution.DataParallel` over `devices` (default: all JAX devices), made the process' global
    distribution on construction: Keras reads it when variables are created, in `fit` (to shard each batch)
    and when the optimizer builds its slots, so it has to outlive any `with` block.

    `scope()` makes it current again, for callers that set another distribution in between.
    """

    feeds_global_batches = True  # the input pipeline batches globally; Keras shards each batch

    def __init__(self, devices=None):
        import jax

        if not tpu_present():  # JAX logs its failed libtpu probe as a warning; without a TPU it is noise
            logging.getLogger("jax._src.xla_bridge").setLevel(logging.ERROR)
        self.devices = list(devices) if devices else jax.devices()
        if self.platform == "gpu":
            _keep_tensorflow_off_gpus()
        self.distribution = keras.distribution.DataParallel(devices=self.devices)
        keras.distribution.set_distribution(self.distribution)

    @property
    def num_replicas_in_sync(self):
        return len(self.devices)

    @property
    def platform(self):
        return self.devices[0].platform

    @property
    def device_kind(self):
        return self.devices[0].device_kind

    @property
    def process_index(self):
        import jax

        return jax.process_index()

    @property
    def process_count(self):
        import jax

        return jax.process_count()

    def scope(self):
        return self.distribution.scope()

    def describe(self):
        """What a run reports: backend, device count and kind."""
        return {"backend": "jax", "strategy": "DataParallel", "devices": self.num_replicas_in_sync,
                "platform": self.platform, "device_kind": self.device_kind, "processes": self.process_count}

    def __repr__(self):
        return f"DataParallelStrategy({self.num_replicas_in_sync} x {self.platform} {self.device_kind})"


def jax_strategy(name="auto", devices=None):
    """The JAX counterpart of `get_strategy(name)`: "auto" / "data_parallel" -> every device (or `devices`),
    "cpu" / "one_device" -> the first device only. tf.distribute strategies are refused with the fix."""
    if name in TF_STRATEGIES:
        raise ValueError(f"strategy={name!r} is a tf.distribute strategy (KERAS_BACKEND=tensorflow); under "
                         "KERAS_BACKEND=jax use 'auto' or 'data_parallel', which spread over every JAX device "
                         "(TPU cores included)")
    import jax

    if name in ("cpu", "one_device"):
        devices = jax.devices()[:1]
    return DataParallelStrategy(devices)


def _keep_tensorflow_off_gpus():
    """tf.data and the tokenizer run on the host: without this, a TensorFlow GPU build beside JAX would take
    the GPUs' memory. A no-op once TensorFlow has started (it then keeps what it has)."""
    try:
        import tensorflow as tf

        tf.config.set_visible_devices([], "GPU")
    except (ImportError, RuntimeError, ValueError):
        pass
