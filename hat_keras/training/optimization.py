"""The original recipe's optimizer (spec §1.3): AdamW, weight decay 0.01 on everything except biases and
LayerNorm, linear warm-up over the first 10 % of steps then linear decay to zero."""
import keras
from keras import ops

MLM_LEARNING_RATE = 1e-4
FINETUNE_LEARNING_RATE = 3e-5
WEIGHT_DECAY = 0.01
WARMUP_RATIO = 0.1
# Keras variable names of biases and LayerNorm scales/offsets (HF's "bias", "LayerNorm.weight").
NO_DECAY = ["bias", "gamma", "beta"]


@keras.saving.register_keras_serializable(package="hat_keras")
class LinearWarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """transformers' `get_linear_schedule_with_warmup`: 0 -> peak over `warmup_steps`, then -> 0 at
    `total_steps`."""

    def __init__(self, peak, total_steps, warmup_steps):
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = step / max(self.warmup_steps, 1)
        decay = (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1)
        factor = ops.where(step < self.warmup_steps, warm, decay)
        return self.peak * ops.clip(factor, 0.0, 1.0)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}


def create_optimizer(total_steps, learning_rate=FINETUNE_LEARNING_RATE, warmup_ratio=WARMUP_RATIO,
                     weight_decay=WEIGHT_DECAY, clipnorm=None, epsilon=1e-8):
    """AdamW with the recipe schedule. Call before `compile`, inside `strategy.scope()`."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    schedule = LinearWarmupDecay(learning_rate, total_steps, round(warmup_ratio * total_steps))
    opt = keras.optimizers.AdamW(schedule, weight_decay=weight_decay, beta_1=0.9, beta_2=0.999, epsilon=epsilon,
                                 clipnorm=clipnorm)
    opt.exclude_from_weight_decay(var_names=NO_DECAY)
    return opt
