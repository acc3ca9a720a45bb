"""Training benchmark: the course's models, in tensorcore and (optionally) PyTorch.

    python -m bench.train mlp --dataset fashion-mnist --epochs 10 --batch-size 100 --lr 1e-3 \\
        --optimizer adam --hidden 500,500 --activation relu --compare-torch
    python -m bench.train cnn --dataset fashion-mnist --epochs 10 --batch-size 100 --lr 1e-3
    python -m bench.train lstm --epochs 5 --batch-size 32 --lr 1e-2

``mlp`` trains ``MLP([features, *hidden, classes])`` and ``cnn`` the course's ``CNN`` (conv 25 →
pool → conv 50 → pool → dense 100 → classes) with cross-entropy, shows a tqdm progress bar per
epoch, and prints each epoch's training time, mean loss and test accuracy. With
``--compare-torch`` (and PyTorch installed) the same architecture, initial weights, batch order,
optimizer and thread count train in PyTorch on the CPU right after, and the median epoch times are
compared (tensorcore's time over PyTorch's: 1.5x = half again as slow).

``lstm`` trains the slot-filling tagger ``LSTMTagger`` on the synthetic ``SlotFilling`` corpus
(``--sentences`` training sentences; the test sentences use unseen templates) and reports token
accuracy and slot F1 on the test split; ``--dataset``, ``--compare-torch`` and the MLP options do
not apply to it.

Both frameworks get the data the same way — the whole split as float32 arrays in memory, one
fancy index per batch (tensorcore through its ``DataLoader`` fast path) — so the epoch time
measures the framework: forward, backward, optimizer step and the Python around them. Before the
first epoch each framework makes a few untimed steps on a throwaway model (first-call costs), and
the comparison uses the median epoch. Evaluation on the test set is timed separately and is not
part of the epoch time.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

MODELS = ("mlp", "cnn", "lstm")
DATASETS = ("fashion-mnist", "mnist", "digits")
OPTIMIZERS = ("adam", "sgd")
WARMUP_STEPS = 5  # untimed training steps on a throwaway model before the first timed epoch
TRAIN_ROW_KEYS = ("framework", "backend", "model", "dataset", "epoch", "batch_size", "threads",
                  "train_s", "eval_s", "train_loss", "test_acc")
LSTM_ROW_KEYS = TRAIN_ROW_KEYS + ("test_slot_f1",)  # lstm rows: test_acc is the token accuracy


@dataclass
class Data:
    """A dataset split as float32 features ``(N, D)`` and int64 labels ``(N,)``."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int


@dataclass
class RunResult:
    """One framework's training run: per-epoch times, losses and accuracies."""

    framework: str
    backend: str
    train_s: list[float] = field(default_factory=list)
    eval_s: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    accs: list[float] = field(default_factory=list)
    f1s: list[float] = field(default_factory=list)

    @property
    def median_epoch_s(self) -> float:
        return statistics.median(self.train_s)


def load_data(name: str, limit: int | None = None) -> Data:
    """The dataset ``name`` (``fashion-mnist``, ``mnist``, ``digits``) as flat float32 arrays in [0, 1];
    ``limit`` keeps the first ``limit`` training samples."""
    from tensorcore.data.datasets import MNIST, Digits, FashionMNIST

    if name == "digits":
        tr, te = Digits(train=True), Digits(train=False)
        xtr, ytr = np.asarray(tr.data, np.float32).reshape(len(tr), -1), np.asarray(tr.targets, np.int64)
        xte, yte = np.asarray(te.data, np.float32).reshape(len(te), -1), np.asarray(te.targets, np.int64)
    elif name in ("fashion-mnist", "mnist"):
        cls = FashionMNIST if name == "fashion-mnist" else MNIST
        xtr, ytr = cls(train=True).arrays(flatten=True)
        xte, yte = cls(train=False).arrays(flatten=True)
    else:
        raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")
    if limit is not None:
        xtr, ytr = xtr[:limit], ytr[:limit]
    return Data(name, np.ascontiguousarray(xtr), ytr, np.ascontiguousarray(xte), yte, int(ytr.max()) + 1)


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    # Off a terminal (logs, CI) redraw rarely instead of writing a line per update.
    interval = 0.1 if sys.stderr.isatty() else 5.0
    return tqdm(total=total, desc=desc, unit="batch", leave=False, disable=not enabled, dynamic_ncols=True,
                mininterval=interval)


def _orders(n: int, epochs: int, seed: int) -> list[np.ndarray]:
    """The shuffled sample order of every epoch in the PyTorch run: the permutations that tensorcore's
    ``DataLoader`` draws from ``tc.random.Generator(seed)``, so both runs see the same batches."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(epochs)]


def as_images(data: Data) -> Data:
    """``data`` with square single-channel images ``(N, 1, side, side)`` instead of flat features."""
    side = int(round(np.sqrt(data.x_train.shape[1])))
    return Data(data.name, data.x_train.reshape(-1, 1, side, side), data.y_train,
                data.x_test.reshape(-1, 1, side, side), data.y_test, data.classes)


def build_model(args: argparse.Namespace, sizes: Sequence[int]) -> Any:
    """The tensorcore model of ``args.model``: ``MLP(sizes)``, or the ``CNN`` for ``sizes[0]`` pixels."""
    from tensorcore.models import CNN, MLP

    if args.model == "cnn":
        return CNN(num_classes=sizes[-1], image_size=int(round(np.sqrt(sizes[0]))))
    return MLP(sizes, activation=args.activation, dropout=args.dropout)


def model_name(args: argparse.Namespace, sizes: Sequence[int]) -> str:
    """The model's description in result rows and headers."""
    if args.model == "lstm":
        return f"lstm tagger {args.embedding_dim}-{args.lstm_hidden}x{args.lstm_layers}"
    if args.model == "cnn":
        return f"cnn conv25-conv50-100-{sizes[-1]}"
    return f"mlp {'-'.join(map(str, sizes))} {args.activation}"


def train_tensorcore(data: Data, sizes: Sequence[int], args: argparse.Namespace,
                     init: list[np.ndarray] | None = None) -> RunResult:
    """Train the MLP or CNN in tensorcore on ``args.backend`` (default: the CPU default backend)."""
    import tensorcore as tc
    from tensorcore import nn, optim
    from tensorcore.data import DataLoader, TensorDataset

    backend = args.backend or tc.backends.default("cpu").name
    tc.manual_seed(args.seed)
    model = build_model(args, sizes)
    if init is not None:
        model.load_state_dict(_state_from_arrays(model.state_dict(), init, tc))
    opt = optim.Adam(model.parameters(), lr=args.lr) if args.optimizer == "adam" else \
        optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    loss_fn = nn.CrossEntropyLoss()
    train = TensorDataset(tc.from_numpy(data.x_train), tc.from_numpy(data.y_train))
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, generator=tc.random.Generator(args.seed))
    x_test = tc.from_numpy(data.x_test)
    result = RunResult("tensorcore", backend)
    with tc.use_backend(backend):
        _warm_up_tensorcore(tc, nn, optim, sizes, args, train)
        for epoch in range(args.epochs):
            model.train()
            total, count = 0.0, 0
            bar = _progress(len(loader), f"tensorcore epoch {epoch + 1}/{args.epochs}", args.progress)
            start = time.perf_counter()
            for xb, yb in loader:
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                total += loss.item() * len(yb)
                count += len(yb)
                bar.update()
            result.train_s.append(time.perf_counter() - start)
            bar.close()
            model.eval()
            start = time.perf_counter()
            with tc.no_grad():
                pred = np.concatenate([model(x_test[i:i + 1000]).argmax(dim=1).numpy()
                                       for i in range(0, len(data.x_test), 1000)])
            result.eval_s.append(time.perf_counter() - start)
            result.losses.append(total / count)
            result.accs.append(float((pred == data.y_test).mean()))
            _print_epoch(result, epoch, args.epochs)
    return result


def _warm_up_tensorcore(tc: Any, nn: Any, optim: Any, sizes: Sequence[int], args: argparse.Namespace,
                        train: Any) -> None:
    """A few untimed steps on a throwaway model, so first-call costs stay out of epoch 1."""
    model = build_model(args, sizes)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    idx = np.arange(min(args.batch_size, len(train)))
    for _ in range(WARMUP_STEPS):
        xb, yb = train.get_batch(idx)
        opt.zero_grad()
        nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()


def _state_from_arrays(state: dict, arrays: list[np.ndarray], tc: Any) -> dict:
    return {k: tc.from_numpy(a.copy()) for k, a in zip(state, arrays)}


def initial_weights(sizes: Sequence[int], seed: int) -> list[np.ndarray]:
    """PyTorch's default ``nn.Linear`` initialisation (U(±1/√fan_in) for weight and bias), drawn with
    NumPy so both frameworks start from the same weights: [w1, b1, w2, b2, ...]."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(n_in)
        out.append(rng.uniform(-bound, bound, size=(n_out, n_in)).astype(np.float32))
        out.append(rng.uniform(-bound, bound, size=n_out).astype(np.float32))
    return out


def initial_state(args: argparse.Namespace, sizes: Sequence[int]) -> list[np.ndarray]:
    """Initial weights shared by both frameworks, in state-dict order: :func:`initial_weights` for the
    MLP, tensorcore's default initialisation (seeded) for the CNN."""
    if args.model != "cnn":
        return initial_weights(sizes, args.seed)
    import tensorcore as tc

    tc.manual_seed(args.seed + 1)
    return [v.numpy().copy() for v in build_model(args, sizes).state_dict().values()]


def _torch_model(torch: Any, args: argparse.Namespace, sizes: Sequence[int]) -> Any:
    """The PyTorch twin of :func:`build_model` (same layers, same state-dict keys)."""
    tnn = torch.nn
    if args.model == "cnn":
        side = int(round(np.sqrt(sizes[0])))
        for _ in range(2):
            side = (side - 2) // 2
        model = tnn.Sequential()
        model.add_module("features", tnn.Sequential(tnn.Conv2d(1, 25, 3), tnn.ReLU(), tnn.MaxPool2d(2),
                                                    tnn.Conv2d(25, 50, 3), tnn.ReLU(), tnn.MaxPool2d(2)))
        model.add_module("classifier", tnn.Sequential(tnn.Flatten(), tnn.Linear(50 * side * side, 100), tnn.ReLU(),
                                                      tnn.Linear(100, sizes[-1])))
        return model
    act = {"relu": tnn.ReLU, "sigmoid": tnn.Sigmoid, "tanh": tnn.Tanh}[args.activation]
    layers: list[Any] = [tnn.Flatten()]
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(tnn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(act())
            if args.dropout > 0:
                layers.append(tnn.Dropout(args.dropout))
    return tnn.Sequential(*layers)


def train_torch(data: Data, sizes: Sequence[int], args: argparse.Namespace, threads: int,
                init: list[np.ndarray]) -> RunResult:
    """Train the same model in PyTorch on the CPU with ``threads`` intra-op threads."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    model = _torch_model(torch, args, sizes)
    with torch.no_grad():
        for p, a in zip(model.parameters(), init):
            p.copy_(torch.from_numpy(a))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr) if args.optimizer == "adam" else \
        torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    loss_fn = torch.nn.CrossEntropyLoss()
    x_train, y_train = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    x_test = torch.from_numpy(data.x_test)
    n, bs = len(x_train), args.batch_size
    result = RunResult("torch", f"torch {torch.__version__}")
    warm = copy.deepcopy(model)
    warm_opt = torch.optim.Adam(warm.parameters(), lr=args.lr)
    for _ in range(WARMUP_STEPS):  # untimed: first-call costs stay out of epoch 1
        warm_opt.zero_grad()
        loss_fn(warm(x_train[:bs]), y_train[:bs]).backward()
        warm_opt.step()
    for epoch, order in enumerate(_orders(n, args.epochs, args.seed)):
        model.train()
        order_t = torch.from_numpy(order)
        total, count = 0.0, 0
        n_batches = -(-n // bs)
        bar = _progress(n_batches, f"torch epoch {epoch + 1}/{args.epochs}", args.progress)
        start = time.perf_counter()
        for b in range(n_batches):
            idx = order_t[b * bs:(b + 1) * bs]
            xb, yb = x_train[idx], y_train[idx]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
            count += len(yb)
            bar.update()
        result.train_s.append(time.perf_counter() - start)
        bar.close()
        model.eval()
        start = time.perf_counter()
        with torch.no_grad():
            pred = torch.cat([model(x_test[i:i + 1000]).argmax(dim=1) for i in range(0, len(x_test), 1000)])
        result.eval_s.append(time.perf_counter() - start)
        result.losses.append(total / count)
        result.accs.append(float((pred.numpy() == data.y_test).mean()))
        _print_epoch(result, epoch, args.epochs)
    return result


def _print_epoch(r: RunResult, epoch: int, epochs: int) -> None:
    f1 = f"   slot F1 {100 * r.f1s[-1]:6.2f} %" if r.f1s else ""
    print(f"{r.framework:<10} epoch {epoch + 1:>2}/{epochs}: train {r.train_s[-1]:7.2f} s   "
          f"loss {r.losses[-1]:.4f}   test acc {100 * r.accs[-1]:6.2f} %{f1}   (eval {r.eval_s[-1]:.2f} s)",
          flush=True)


def train_lstm(args: argparse.Namespace) -> RunResult:
    """Train the slot-filling ``LSTMTagger`` on ``args.backend``; ``accs`` are test token accuracies,
    ``f1s`` test slot F1 scores."""
    import tensorcore as tc
    from tensorcore import nn, optim
    from tensorcore.data import DataLoader, SlotFilling
    from tensorcore.data.datasets.slot_filling import IGNORE_INDEX, TAGS
    from tensorcore.models import LSTMTagger, evaluate_tagger

    backend = args.backend or tc.backends.default("cpu").name
    tc.manual_seed(args.seed)
    train = SlotFilling(train=True, size=args.sentences, seed=args.seed)
    test = SlotFilling(train=False, seed=args.seed)
    model = LSTMTagger(len(train.vocab), len(TAGS), args.embedding_dim, args.lstm_hidden, args.lstm_layers,
                       args.dropout)
    opt = optim.Adam(model.parameters(), lr=args.lr) if args.optimizer == "adam" else \
        optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX)
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, generator=tc.random.Generator(args.seed))
    result = RunResult("tensorcore", backend)
    with tc.use_backend(backend):
        for epoch in range(args.epochs):
            model.train()
            total, count = 0.0, 0
            bar = _progress(len(loader), f"tensorcore epoch {epoch + 1}/{args.epochs}", args.progress)
            start = time.perf_counter()
            for tokens, tags in loader:
                opt.zero_grad()
                loss = loss_fn(model(tokens).reshape(-1, len(TAGS)), tags.reshape(-1))
                loss.backward()
                opt.step()
                total += loss.item() * len(tags)
                count += len(tags)
                bar.update()
            result.train_s.append(time.perf_counter() - start)
            bar.close()
            start = time.perf_counter()
            scores = evaluate_tagger(model, test)
            result.eval_s.append(time.perf_counter() - start)
            result.losses.append(total / count)
            result.accs.append(scores["token_accuracy"])
            result.f1s.append(scores["slot_f1"])
            _print_epoch(result, epoch, args.epochs)
    return result


def _rows(r: RunResult, args: argparse.Namespace, sizes: Sequence[int], threads: int) -> list[dict[str, Any]]:
    return [{"framework": r.framework, "backend": r.backend, "model": model_name(args, sizes), "dataset": args.dataset, "epoch": i + 1, "batch_size": args.batch_size,
             "threads": threads, "train_s": r.train_s[i], "eval_s": r.eval_s[i], "train_loss": r.losses[i],
             "test_acc": r.accs[i], **({"test_slot_f1": r.f1s[i]} if r.f1s else {})} for i in range(len(r.train_s))]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.train", description="Train the course's models and time them.")
    p.add_argument("model", choices=MODELS, help="the model to train")
    p.add_argument("--dataset", choices=DATASETS, default="fashion-mnist")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    p.add_argument("--momentum", type=float, default=0.9, help="for --optimizer sgd")
    p.add_argument("--hidden", default="500,500", help="hidden widths, comma-separated (e.g. 500,500)")
    p.add_argument("--activation", choices=["relu", "sigmoid", "tanh"], default="relu")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--sentences", type=int, default=3000, help="lstm: training sentences")
    p.add_argument("--embedding-dim", type=int, default=32, help="lstm: word vector width")
    p.add_argument("--lstm-hidden", type=int, default=64, help="lstm: hidden size")
    p.add_argument("--lstm-layers", type=int, default=1, help="lstm: stacked layers")
    p.add_argument("--backend", default=None, help="tensorcore CPU backend (default: the fastest available)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for tensorcore's C++ kernels and PyTorch (default: the C++ backend's count)")
    p.add_argument("--compare-torch", action="store_true", help="also train in PyTorch and compare epoch times")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.add_argument("--out", default=None, help="folder for the JSON result (default: bench/results)")
    p.add_argument("--no-json", action="store_true", help="do not write a JSON result file")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench.train``; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1:
        raise SystemExit("--epochs and --batch-size must be >= 1")
    import tensorcore as tc

    from . import machine, report
    from .kernels import cpu_threads, set_cpu_threads

    if args.threads is not None:
        set_cpu_threads(args.threads)
    threads = args.threads or cpu_threads()
    torch = None
    if args.compare_torch:
        try:
            import torch
        except ImportError:
            print("--compare-torch: PyTorch is not installed; training tensorcore only")
    desc = machine.describe()
    print("\n".join(machine.summary_lines(desc)))
    backend = args.backend or tc.backends.default("cpu").name
    if args.model == "lstm":
        return _main_lstm(args, desc, backend, threads, argv)
    if args.model == "cnn" and args.dataset == "digits":
        raise SystemExit("cnn: the 8x8 digits are too small for the CNN; use --dataset fashion-mnist or mnist")
    data = load_data(args.dataset, args.limit)
    hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    sizes = [data.x_train.shape[1], *hidden, data.classes]
    if args.model == "cnn":
        data = as_images(data)
    print(f"\n{model_name(args, sizes)}, {args.optimizer} lr={args.lr}, "
          f"batch {args.batch_size}, {args.epochs} epochs on {args.dataset} "
          f"({len(data.x_train)} train / {len(data.x_test)} test); tensorcore backend {backend}, "
          f"{threads} threads\n", flush=True)
    init = initial_state(args, sizes)
    ours = train_tensorcore(data, sizes, args, init)
    rows = _rows(ours, args, sizes, threads)
    theirs = None
    if torch is not None:
        theirs = train_torch(data, sizes, args, threads, init)
        rows += _rows(theirs, args, sizes, threads)
    print()
    print(f"tensorcore ({backend}): median epoch {ours.median_epoch_s:.2f} s, final test accuracy "
          f"{100 * ours.accs[-1]:.2f} % (best {100 * max(ours.accs):.2f} %)")
    if theirs is not None:
        print(f"PyTorch {torch.__version__} CPU: median epoch {theirs.median_epoch_s:.2f} s, final test accuracy "
              f"{100 * theirs.accs[-1]:.2f} % (best {100 * max(theirs.accs):.2f} %)")
        print(f"epoch time tensorcore / PyTorch: {ours.median_epoch_s / theirs.median_epoch_s:.2f}x "
              f"(same model, initial weights, batch order, batch size {args.batch_size}, {threads} threads)")
    if not args.no_json:
        path = report.write_json(f"train-{args.model}-{args.dataset}", desc, rows, args.out,
                                 command="python -m bench.train " + " ".join(sys.argv[1:] if argv is None else argv),
                                 row_keys=TRAIN_ROW_KEYS)
        print(f"results written to {path}")
    return 0


def _main_lstm(args: argparse.Namespace, desc: dict, backend: str, threads: int, argv: Sequence[str] | None) -> int:
    from . import report

    print(f"\nLSTMTagger emb {args.embedding_dim}, hidden {args.lstm_hidden} x {args.lstm_layers} layers, "
          f"{args.optimizer} lr={args.lr}, batch {args.batch_size}, {args.epochs} epochs on the slot-filling "
          f"corpus ({args.sentences} train sentences); tensorcore backend {backend}, {threads} threads\n", flush=True)
    ours = train_lstm(args)
    print(f"\ntensorcore ({backend}): median epoch {ours.median_epoch_s:.2f} s, final test token accuracy "
          f"{100 * ours.accs[-1]:.2f} %, slot F1 {100 * ours.f1s[-1]:.2f} %")
    if not args.no_json:
        rows = [dict(row, dataset="slot-filling") for row in _rows(ours, args, [], threads)]
        path = report.write_json("train-lstm-slot-filling", desc, rows, args.out,
                                 command="python -m bench.train " + " ".join(sys.argv[1:] if argv is None else argv),
                                 row_keys=LSTM_ROW_KEYS)
        print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
