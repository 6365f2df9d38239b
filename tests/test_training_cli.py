"""CLI flags map onto TrainArgs; optimizer schedule and weight-decay exclusions; F1 on logits."""
import keras
import numpy as np
import pytest

from hat_keras.cli import build_parser, parse, train
from hat_keras.models import metrics
from hat_keras.training import optimization


def _parse(argv):
    return parse(build_parser(), argv)


def test_train_classify_flags():
    ns = _parse(["train", "text_classifier", "m", "--train", "a.jsonl", "b.jsonl", "-o", "o",
                 "--label-field", "x,y,z", "--strategy", "tpu", "--tpu", "local", "--precision", "mixed_bfloat16",
                 "--steps-per-execution", "50", "--jit-compile", "true", "--batch-size", "4", "--label-names", "a,b"])
    args = train.args_from_namespace(ns)
    assert args.label_field == ["x", "y", "z"] and args.train_data == ["a.jsonl", "b.jsonl"]
    assert (args.strategy, args.tpu, args.precision) == ("tpu", "local", "mixed_bfloat16")
    assert args.steps_per_execution == 50 and args.jit_compile is True and args.epochs == 3.0
    assert (args.model, args.output_dir, args.num_labels, args.verbose) == ("m", "o", 2, "auto")
    args = train.args_from_namespace(_parse(["train", "masked_lm", "m", "--train", "c.txt", "-o", "o", "--quiet"]))
    assert args.label_field is None and args.epochs is None and args.verbose == 0
    ns = _parse(["warm-start", "bert", "-o", "out", "--layout", "S|SD|D"])
    assert ns.layout == "S|SD|D" and ns.max_segments == 8 and ns.segment_length == 128 and ns.init == "grouped"


def test_old_train_spellings_still_parse(capsys):
    ns = _parse(["train", "classify", "--model", "m", "--train", "a.jsonl", "--output-dir", "o", "--num-labels", "3",
                 "--verbose", "2"])
    args = train.args_from_namespace(ns)
    assert (ns.task, args.model, args.output_dir, args.num_labels, args.verbose) == ("text_classifier", "m", "o", 3, 2)
    ns = _parse(["warm-start", "bert", "out", "--layout", "S|D", "--max-sentences", "4", "--strategy", "embeds-only"])
    assert (ns.output, ns.max_segments, ns.init) == ("out", 4, "embeds-only")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 8 and all(line.startswith("hat-keras: ") and "is deprecated; use" in line for line in err)


def test_schedule_warmup_then_linear_decay():
    sched = optimization.LinearWarmupDecay(1e-4, total_steps=100, warmup_steps=10)
    lr = [float(sched(s)) for s in (0, 5, 10, 55, 100, 150)]
    np.testing.assert_allclose(lr, [0.0, 5e-5, 1e-4, 5e-5, 0.0, 0.0], rtol=1e-6, atol=1e-12)
    opt = optimization.create_optimizer(200, 3e-5)
    assert opt._learning_rate.warmup_steps == 20 and opt.weight_decay == 0.01


def test_weight_decay_skips_bias_and_layer_norm():
    dense, norm = keras.layers.Dense(3), keras.layers.LayerNormalization()
    dense.build((None, 4)), norm.build((None, 3))
    opt = optimization.create_optimizer(10)
    opt.build(dense.trainable_variables + norm.trainable_variables)
    decayed = {v.name: opt._use_weight_decay(v) for v in dense.trainable_variables + norm.trainable_variables}
    assert decayed == {"kernel": True, "bias": False, "gamma": False, "beta": False}


def test_f1_from_logits_single_and_multi_label():
    y = np.array([0, 1, 1, 0, 1])
    logits = np.array([[2, 0], [0, 1], [3, 0], [1, 0], [0, 2]], "float32")  # one false negative on class 1
    micro, macro = metrics.LogitsF1Score(2, "micro"), metrics.LogitsF1Score(2, "macro")
    micro.update_state(y, logits), macro.update_state(y, logits)
    assert float(micro.result()) == pytest.approx(0.8)
    assert float(macro.result()) == pytest.approx(np.mean([0.8, 0.8]))  # class 0: P 2/3 R 1; class 1: P 1 R 2/3
    yml = np.array([[1, 0, 1], [0, 1, 0]], "float32")
    lml = np.array([[3, -3, 2], [-1, 2, 1]], "float32")  # one false positive (row 1, class 2)
    m = metrics.LogitsF1Score(3, "micro", multi_label=True)
    m.update_state(yml, lml)
    assert float(m.result()) == pytest.approx(2 * 3 / (2 * 3 + 1))


@pytest.mark.parametrize("flag, value, why", [("--max-steps", "0", "must be at least 1"),
                                              ("--learning-rate", "-1", "must be a number greater than 0"),
                                              ("--batch-size", "0", "must be at least 1"),
                                              ("--warmup-ratio", "2", "must be between 0 and 1")])
def test_out_of_range_train_flags_are_usage_errors(capsys, flag, value, why):
    with pytest.raises(SystemExit) as e:
        _parse(["train", "text_classifier", "m", "--train", "a.jsonl", "-o", "o", flag, value])
    assert e.value.code == 2
    assert f"error: argument {flag}: '{value}': {why} (see" in capsys.readouterr().err.splitlines()[-1]


def test_compact_flags(capsys):
    """--compact maps onto TrainArgs.compact, warm-start's and quickstart's own; train refuses it for masked_lm."""
    from hat_keras.cli import main

    args = train.args_from_namespace(_parse(["train", "text_classifier", "m", "--train", "a.jsonl", "-o", "o",
                                             "--compact"]))
    assert args.compact is True and args.bucketing is True
    plain = train.args_from_namespace(_parse(["train", "text_classifier", "m", "--train", "a", "-o", "o"]))
    assert plain.compact is False
    assert train.args_from_namespace(_parse(["train", "text_classifier", "m", "--train", "a", "-o", "o",
                                             "--no-bucketing"])).bucketing is False
    assert _parse(["warm-start", "bert", "-o", "out", "--layout", "S|D", "--compact"]).compact is True
    assert _parse(["quickstart", "--compact"]).compact is True
    with pytest.raises(SystemExit) as e:
        main(["train", "masked_lm", "m", "--train", "a.txt", "-o", "o", "--compact"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hat-keras train: error: --compact: only text_classifier pools segments (masked_lm has no "
                          "pooled head)"), err
