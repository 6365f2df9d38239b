"""Tiny models and data for the training tests (kept small: 2 CPU cores, seconds per run)."""
import json
import os
import random

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau "
         "upsilon phi chi psi omega red green blue black white one two three four five six seven eight nine").split()
POSITIVE, NEGATIVE = WORDS[:12], WORDS[24:36]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
K, N = 16, 4


def tiny_backbone_kwargs(vocabulary_size=len(SPECIALS) + len(WORDS) + 1, layout="S|SD|D", dropout=0.0):
    return dict(vocabulary_size=vocabulary_size, hidden_dim=32, num_heads=2, intermediate_dim=64, layout=layout,
                segment_length=K, max_segments=N, dropout=dropout, attention_dropout=dropout)


def write_tiny_hat(folder, layout="S|SD|D", seed=0, dropout=0.0, initializer_range=0.02):
    """An HF-format tiny HAT (random MLM weights) with a WordPiece vocabulary of whole words. A larger
    `initializer_range` (e.g. 0.5) gives an encoder whose outputs differ clearly between texts."""
    import keras

    import hat_keras as h

    keras.utils.set_random_seed(seed)
    model = h.HATMaskedLM(h.HATBackbone(**tiny_backbone_kwargs(layout=layout, dropout=dropout),
                                        initializer_range=initializer_range))
    h.save_pretrained(model, folder)
    with open(os.path.join(folder, "vocab.txt"), "w") as f:
        f.write("\n".join(SPECIALS + WORDS + ["."]) + "\n")
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "tokenizer_class": "BertTokenizer"}, f)
    return folder


def doc(rng, label, n_words=40):
    pool = POSITIVE if label else NEGATIVE
    words = [rng.choice(pool) if rng.random() < 0.7 else rng.choice(WORDS) for _ in range(n_words)]
    return " ".join(" ".join(words[i:i + 8]) + " ." for i in range(0, n_words, 8))


def write_jsonl(path, n, seed=0, label_name=True, multi=False):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            label = i % 2
            row = {"text": doc(rng, label), "id": i}
            if multi:
                row.update({"pos": label, "neg": 1 - label, "odd": int(i % 3 == 0)})
            else:
                row["label"] = ["no", "yes"][label] if label_name else label
            f.write(json.dumps(row) + "\n")
    return path
