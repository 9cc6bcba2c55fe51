"""Bad input, everywhere: the public API of every module against wrong values, each with a clear error.

One table, one row per bad input, ``"module.function: what is wrong"``. Each
row calls one public function (or method) with one bad argument and expects
the documented exception type with a message that starts by naming the
argument (``"lr must be ..."``), so a learner reads what to change, not a
traceback from deep inside torch or NumPy. Rows marked xfail are known gaps
(in ``lrcourse/training.py``, and the ``Animator`` of ``plotting.py``): the
row shows the error wanted, the reason what happens today.
:func:`test_the_table_walks_every_public_name` keeps the table complete: every
name in every module's ``__all__`` has a row or a reason why not.

The widgets' explore functions answer bad slider values with a message, not an
exception, and their sliders clamp what a front end sends: the tests at the
end drive both headlessly.
"""
import inspect
import json
import math

import ipywidgets as w
import numpy as np
import pytest
import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from traitlets import TraitError

import tiny
from lrcourse import compare, config, data, lr_finder, metrics, models, momentum, plotting, schedules
from lrcourse import (checkpoint, checks, ddp_demo, distributed, experiments, finetune, scaling, sharpness, training,
                      widgets)
from lrcourse.lr_finder import LRRangeResult, suggest
from lrcourse.schedules import Constant
from lrcourse.training import History

MODULES = dict(config=config, data=data, models=models, metrics=metrics, schedules=schedules,
               training=training, plotting=plotting, lr_finder=lr_finder, momentum=momentum,
               widgets=widgets, compare=compare, checkpoint=checkpoint, checks=checks,
               experiments=experiments, finetune=finetune, distributed=distributed, scaling=scaling,
               ddp_demo=ddp_demo, sharpness=sharpness)

nan, inf = math.nan, math.inf

# Public names with no bad input of their own, and why.
NOT_WALKED = {
    "config": {"profile": "no arguments", "is_quick": "no arguments", "is_headless": "no arguments",
               "machine": "no arguments", "is_rerun": "no arguments", "cpu": "no arguments",
               "kernel_shell": "no arguments"},
    "checks": {"MAX_SEED": "a constant", "is_number": "a predicate: every value is an answer"},
    "data": {"SYSTEM_DIR": "a constant", "CHECKSUMS": "a constant", "VALID_SEED": "a constant",
             "DataNotFoundError": "an exception (test_data.py raises it)",
             "DataCorruptError": "an exception (test_data.py raises it from damaged files)"},
    "lr_finder": {"DEFAULT_RULE": "a constant", "RULES": "a constant", "MIN_ITER": "a constant",
                  "MODES": "a constant"},
    "momentum": {"QuadraticRun": "a record run_quadratic fills"},
    "plotting": {"PNGFigure": "a matplotlib Figure: its arguments are matplotlib's",
                 "StabilityPlot": "a figure the stability explorer fills; its runs come from tiny_gd",
                 "Table": "a record of the strings results_table and summary_table make",
                 "plural": "a formatter: every count is an answer"},
    "training": {"History": "a record fit fills", "TrainingInterrupted": "an exception (test_checkpoint.py)",
                 "last_history": "no arguments"},
    "checkpoint": {"FORMAT": "a constant", "CheckpointError": "an exception (test_checkpoint.py raises it)"},
    "finetune": {"OLD_CLASSES": "a constant", "NEW_CLASSES": "a constant", "PER_CLASS": "a constant",
                 "PRETRAIN_LR": "a constant", "DEAD_ACC": "a constant", "WAYS": "a constant",
                 "FORMULAS": "a constant",
                 "FineTuneData": "a record task_data fills"},
    "widgets": {"SCHEDULE_KINDS": "a constant", "PLAYGROUND_X0": "a constant", "ALPHA_SLIDER": "a constant",
                "BETA_SLIDER": "a constant", "KAPPAS": "a constant",
                "Param": "a record of a slider's range", "STABILITY_SLIDER": "a constant"},
    "sharpness": {"Spectrum": "a record hessian_eigenvalues fills", "TinyRun": "a record tiny_gd fills"},
    "distributed": {"is_distributed": "no arguments", "rank": "no arguments", "world_size": "no arguments",
                    "REPORT_ENV": "a constant", "LaunchError": "an exception class",
                    "sampler_of": "any object: None for all but a DataLoader with a DistributedSampler",
                    "check_same": "any plain data; compared only within a process group"},
    "scaling": {"NoiseScale": "a record noise_scale fills", "CriticalBatch": "a record critical_batch fills"},
    "ddp_demo": {"BATCH_SIZE": "a constant", "LIMIT": "a constant", "VALID": "a constant",
                 "NUM_EPOCHS": "a constant", "LR": "a constant"},
    "experiments": {"STRATEGIES": "a constant", "SCHEDULES": "a constant", "SWEEPS": "a constant", "NETS": "a constant",
                    "FIELDS": "a constant", "DEAD_ACC": "a constant", "RESULTS_DIR": "a constant",
                    "SweepResult": "a record load_sweep fills", "package_hash": "no arguments",
                    "FINETUNE_WAYS": "a constant", "TASKS": "a constant", "BATCH_SIZES": "a constant",
                    "ANYTIME": "a constant", "ANYTIME_BUDGETS": "a constant", "ANYTIME_COOLDOWNS": "a constant",
                    "ANYTIME_PLANNED": "a constant", "ANYTIME_RATES": "a constant", "ANYTIME_FREE_RATES": "a constant",
                    "LONG_RUN_SCHEDULES": "a constant",
                    "LARGE_BATCH": "a constant", "LARGE_BATCH_WARMUP": "a constant",
                    "WARMUP_BATCH_SIZES": "a constant", "BATCH_OPTIMIZERS": "a constant",
                    "Strategy": "a record of a formula and the function that makes fit's arguments",
                    "CURVES": "a constant", "FULL_BATCH": "a constant", "EOS_RATES": "a constant",
                    "SHARPNESS_BATCHES": "a constant", "SHARPNESS_SGD_RATES": "a constant",
                    "SHARPNESS_ITERS": "a constant", "SHARPNESS_TOL": "a constant"},
}


# ---------------------------------------------------------------- what the rows call


def loaders():
    """The tiny problem of tests/tiny.py: 30 examples of 5 features, batches of 8, on the CPU."""
    return tiny.make_data()


def train():
    return loaders()[0]


def empty_loader():
    """A loader with no batch: 3 examples, batches of 4, the short batch dropped."""
    X, y = torch.zeros(3, 5), torch.zeros(3, dtype=torch.long)
    return data.TensorLoader(X, y, 4, drop_last=True)


def net():
    return tiny.make_net()


def sgd():
    """An optimizer over a net of its own: not the net a row trains."""
    return torch.optim.SGD(net().parameters(), lr=0.1)


def fit(**kw):
    """``fit`` on the tiny problem, quiet; ``kw`` overrides any argument."""
    train_iter, test_iter = loaders()
    args = dict(net=net(), train_iter=train_iter, test_iter=test_iter, num_epochs=1, lr=0.1,
                animate=False, progress=False)
    args.update(kw)
    return training.fit(**args)


def range_test(**kw):
    args = dict(net=net(), train_iter=train(), num_iter=10, device="cpu")
    args.update(kw)
    return lr_finder.lr_range_test(**args)


CURVE_LRS = [10.0 ** (i / 4 - 4) for i in range(20)]
CURVE_LOSSES = [2.3 - 2 * math.tanh(max(0, i - 6) / 4) + (0.5 if i > 17 else 0) for i in range(20)]


def result():
    """A made-up range test result: a plateau, a descent, a rise."""
    return LRRangeResult(lrs=CURVE_LRS, losses=CURVE_LOSSES, raw_losses=CURVE_LOSSES, stopped_early=False,
                         diverged_at=None, suggestions=suggest(CURVE_LRS, CURVE_LOSSES), num_iter=20,
                         smooth=0.0)


def history():
    return History(train_loss=[1.0], train_acc=[0.5], test_loss=[1.0], test_acc=[0.5], lr=[0.1],
                   epoch_time=[1.0], step_lr=[0.1, 0.1], steps_per_epoch=2)


def run3d():
    return momentum.run_quadratic(0.1, 0.5, [1.0, 2.0, 3.0], [1.0, 1.0, 1.0], 5)


def record(**kw):
    row = dict(strategy="a", seed=0, train_loss=0.5, train_acc=0.8, test_acc=0.8, best_test_acc=0.8,
               seconds=1.0, diverged=False)
    row.update(kw)
    return row


def sweep_run(**kw):
    row = dict(strategy="a", seed=0, lr=0.1, valid_acc=0.8, test_acc=0.8, train_loss=0.5, dead=False, seconds=1.0)
    row.update(kw)
    return row


def sweep(**kw):
    args = dict(name="s", title="t", net="mlp", strategies=(("constant", (0.1,)),), seeds=(0,), num_epochs=1,
                valid=100, limit=64)
    args.update(kw)
    return experiments.Sweep(**args)


def write(tmp_path, text):
    path = tmp_path / "runs.json"
    path.write_text(text)
    return path


def animator_with_lines(n):
    anim = plotting.Animator()
    anim.add(0, [1.0] * n)
    return anim


def loader_of(X, y, **kw):
    return lambda: data.TensorLoader(X, y, 4, **kw)


def case(id, call, error, match, marks=()):
    return pytest.param(call, error, match, id=id, marks=marks)


X30, y30 = torch.zeros(30, 5), torch.zeros(30, dtype=torch.long)
RATE = r"must be a finite number >= 0, got "
RATE_POSITIVE = r"must be a finite number > 0, got "
SEED = r"^seed must be an int in \[0, 2\*\*63 - 1\]"
DECAY = r"must be a number in \(0, 1\] \(a decay\), got "
T = r"^t \(the update count\) must be an int in \[0, 2\*\*62\], got "
TS = r"^ts must be a 1-D sequence of ints in \[0, 2\*\*62\], got "

CASES = [
    # ------------------------------------------------------------ config
    case("checks.check_int: below the minimum", lambda: checks.check_int("per_class", 0, minimum=1), ValueError,
         r"^per_class must be an int >= 1, got 0$"),
    case("checks.check_int: a float where None is allowed",
         lambda: checks.check_int("limit", 2.5, minimum=1, allow_none=True), ValueError,
         r"^limit must be an int >= 1 or None, got 2.5$"),
    case("checks.check_rate: negative", lambda: checks.check_rate("lr", -0.1), ValueError,
         r"^lr must be a finite number >= 0, got -0.1$"),
    case("checks.check_rate: zero where positive", lambda: checks.check_rate("max_lr", 0, positive=True),
         ValueError, r"^max_lr must be a finite number > 0, got 0$"),
    case("checks.check_decay: above 1", lambda: checks.check_decay("gamma", 1.5), ValueError,
         r"^gamma " + DECAY + "1.5$"),
    case("checks.check_choice: not a choice", lambda: checks.check_choice("split", "val", ("train", "test")),
         ValueError, r"^split must be one of \('train', 'test'\), got 'val'$"),
    case("checks.check_path: a number", lambda: checks.check_path("checkpoint", 3), TypeError,
         r"^checkpoint must be a file path \(str or os.PathLike\), got int 3$"),
    case("checks.check_seed: negative seed", lambda: checks.check_seed(-1), ValueError, SEED + ", got -1$"),
    case("checks.check_seed: bool where int expected", lambda: checks.check_seed(True), ValueError,
         SEED + ", got True$"),
    case("config.seed_everything: float seed", lambda: config.seed_everything(1.5), ValueError,
         SEED + ", got 1.5$"),
    case("config.seed_everything: seed above 2**63 - 1", lambda: config.seed_everything(2**63), ValueError,
         SEED),
    case("checks.check_device: unknown device name", lambda: checks.check_device("gpu"), ValueError,
         r"^device must be a torch.device or a name such as 'cpu', 'cuda' or 'cuda:0' .*got 'gpu'$"),
    case("checks.check_device: a float", lambda: checks.check_device(1.5), ValueError,
         r"^device must be a torch.device .*got 1.5$"),
    case("checks.check_device: a CUDA device this machine lacks", lambda: checks.check_device("cuda:99"),
         ValueError, r"^device 'cuda:99' is not on this machine \(\d+ CUDA device\(s\)\)"),
    case("checks.check_flag: a str", lambda: checks.check_flag("shuffle", "yes"), TypeError,
         r"^shuffle must be True or False, got 'yes'$"),
    case("checks.check_loss: a number", lambda: checks.check_loss(0.5), TypeError,
         r"^loss must be a function \(y_hat, y\) -> mean loss, got float 0.5$"),
    case("checks.check_batches: a number", lambda: checks.check_batches("data_iter", 5), TypeError,
         r"^data_iter must be an iterable of \(X, y\) batches, got int$"),
    case("checks.check_batches: an empty list", lambda: checks.check_batches("test_iter", []), ValueError,
         r"^test_iter holds no batches$"),
    case("config.try_gpu: negative index", lambda: config.try_gpu(-1), ValueError,
         r"^i must be an int >= 0 \(a GPU's index\), got -1$"),
    case("config.try_gpu: str index", lambda: config.try_gpu("0"), ValueError, r"^i must be an int >= 0"),
    case("config.Profile: batch_size 0", lambda: config.Profile("x", 0, 1, None, 1), ValueError,
         r"^batch_size must be an int >= 1, got 0$"),
    case("config.Profile: float num_epochs", lambda: config.Profile("x", 8, 2.5, None, 1), ValueError,
         r"^num_epochs must be an int >= 1, got 2.5$"),
    case("config.Profile: negative limit", lambda: config.Profile("x", 8, 1, -5, 1), ValueError,
         r"^limit must be an int >= 1 or None, got -5$"),
    case("config.Profile: bool num_seeds", lambda: config.Profile("x", 8, 1, None, True), ValueError,
         r"^num_seeds must be an int >= 1, got True$"),

    # ------------------------------------------------------------ data
    case("data.TensorLoader: batch_size 0", lambda: data.TensorLoader(X30, y30, 0), ValueError,
         r"^batch_size must be an int >= 1, got 0$"),
    case("data.TensorLoader.shard: rank 2 of 2", lambda: data.TensorLoader(X30, y30, 4).shard(2, 2), ValueError,
         r"^rank must be < world_size \(2\), got 2$"),
    case("data.TensorLoader: bool batch_size", lambda: data.TensorLoader(X30, y30, True), ValueError,
         r"^batch_size must be an int >= 1, got True$"),
    case("data.TensorLoader: a list, not a tensor", lambda: data.TensorLoader([[0.0] * 5] * 30, y30, 4),
         TypeError, r"^X and y must be tensors, got list and Tensor$"),
    case("data.TensorLoader: X and y of different lengths", lambda: data.TensorLoader(X30, y30[:29], 4),
         ValueError, r"^X and y must hold the same number of examples, got 30 and 29$"),
    case("data.TensorLoader: no examples", lambda: data.TensorLoader(X30[:0], y30[:0], 4), ValueError,
         r"^X and y hold no examples$"),
    case("data.TensorLoader: 0-d tensors", lambda: data.TensorLoader(torch.tensor(1.0), torch.tensor(1), 4),
         ValueError, r"^X and y must have a first dimension \(the examples\), got shapes \(\) and \(\)$"),
    case("data.TensorLoader: shuffle given as a str", loader_of(X30, y30, shuffle="yes"), TypeError,
         r"^shuffle must be True or False, got 'yes'$"),
    case("data.TensorLoader: drop_last given as an int", loader_of(X30, y30, drop_last=1), TypeError,
         r"^drop_last must be True or False, got 1$"),
    case("data.TensorLoader: negative seed", loader_of(X30, y30, seed=-1), ValueError, SEED),
    case("data.TensorLoader.reseed: float seed", lambda: train().reseed(0.5), ValueError,
         SEED + ", got 0.5$"),
    case("data.TensorLoader.permutation: negative epoch", lambda: train().permutation(-1), ValueError,
         r"^epoch must be an int >= 0, got -1$"),
    case("data.load_fashion_mnist: valid 0", lambda: data.load_fashion_mnist(8, valid=0), ValueError,
         r"^valid must be an int >= 1 or None, got 0$"),
    case("data.load_fashion_mnist: valid of the whole training set",
         lambda: data.load_fashion_mnist(8, valid=60000), ValueError,
         r"^valid must be an int in \[1, 59990\] \(training keeps the rest\), got 60000$"),
    case("data.stratified_split: valid 0", lambda: data.stratified_split(torch.tensor([0, 1, 0, 1]), 0),
         ValueError, r"^valid must be an int >= 1, got 0$"),
    case("data.stratified_split: more than a class holds",
         lambda: data.stratified_split(torch.tensor([0, 1, 0, 1, 1]), 4), ValueError,
         r"^valid=4 asks 2 examples of class 0, which has 2 \(and training needs at least one\): "
         r"ask for at most 2$"),
    case("data.stratified_split: a float seed", lambda: data.stratified_split(torch.tensor([0, 1]), 1, seed=0.5),
         ValueError, SEED + ", got 0.5$"),
    case("data.load_fashion_mnist: batch_size 0", lambda: data.load_fashion_mnist(0), ValueError,
         r"^batch_size must be an int >= 1, got 0$"),
    case("data.load_fashion_mnist: limit 0", lambda: data.load_fashion_mnist(8, limit=0), ValueError,
         r"^limit must be an int >= 1 or None, got 0$"),
    case("data.load_fashion_mnist: str seed", lambda: data.load_fashion_mnist(8, seed="0"), ValueError,
         SEED + ", got '0'$"),
    case("data.load_fashion_mnist: unknown device", lambda: data.load_fashion_mnist(8, device="gpu"),
         ValueError, r"^device must be a torch.device"),
    case("data.load_fashion_mnist: root is a number", lambda: data.load_fashion_mnist(8, root=5), TypeError,
         r"^root must be a folder \(a str or os.PathLike\) or None, got int 5$"),
    case("data.read_fashion_mnist: unknown split", lambda: data.read_fashion_mnist("validation"), ValueError,
         r"^split must be 'train' or 'test', got 'validation'$"),
    case("data.find_offline: root is a list", lambda: data.find_offline(["data"]), TypeError,
         r"^root must be a folder"),
    case("data.fashion_mnist_dirs: root is a float", lambda: data.fashion_mnist_dirs(1.5), TypeError,
         r"^root must be a folder"),
    case("data.select_classes: no classes", lambda: data.select_classes(train(), []), ValueError,
         r"^classes must name at least one label, got \[\]$"),
    case("data.select_classes: a repeated class", lambda: data.select_classes(train(), [1, 1]), ValueError,
         r"^classes must be distinct, got \[1, 1\] \(repeated: \[1\]\)$"),
    case("data.select_classes: bool class", lambda: data.select_classes(train(), [True]), ValueError,
         r"^classes must be ints, got True in \[True\]$"),
    case("data.select_classes: a class the loader lacks", lambda: data.select_classes(train(), [7]),
         ValueError, r"^classes must be labels the loader holds, got \[7\] absent"),
    case("data.select_classes: classes is a number", lambda: data.select_classes(train(), 3), ValueError,
         r"^classes must be a sequence of ints, got 3$"),
    case("data.select_classes: per_class 0", lambda: data.select_classes(train(), [0], per_class=0),
         ValueError, r"^per_class must be an int >= 1 or None, got 0$"),
    case("data.select_classes: batch_size 0", lambda: data.select_classes(train(), [0], batch_size=0),
         ValueError, r"^batch_size must be an int >= 1, got 0$"),
    case("data.select_classes: a list, not a TensorLoader", lambda: data.select_classes([], [0]), TypeError,
         r"^loader must be a TensorLoader, got list$"),
    case("data.get_fashion_mnist_labels: label 10", lambda: data.get_fashion_mnist_labels([3, 10]),
         ValueError, r"^labels must be class indices 0-9 \(ints\), got \[10\]$"),
    case("data.get_fashion_mnist_labels: float labels", lambda: data.get_fashion_mnist_labels([1.7]),
         ValueError, r"^labels must be class indices 0-9 \(ints\), got \[1.7\]$"),
    case("data.get_fashion_mnist_labels: a number, not a sequence", lambda: data.get_fashion_mnist_labels(5),
         ValueError, r"^labels must be a sequence of class indices 0-9, got 5$"),

    # ------------------------------------------------------------ models
    case("models.lenet: negative seed", lambda: models.lenet(seed=-1), ValueError,
         SEED + " or None, got -1$"),
    case("models.mlp: str seed", lambda: models.mlp(seed="0"), ValueError, SEED + " or None, got '0'$"),
    case("models.init_xavier: not a module", lambda: models.init_xavier("linear"), TypeError,
         r"^module must be a torch.nn.Module, got str$"),

    # ------------------------------------------------------------ metrics
    case("metrics.Accumulator: n 0", lambda: metrics.Accumulator(0), ValueError,
         r"^n must be an int >= 1, got 0$"),
    case("metrics.Accumulator: bool n", lambda: metrics.Accumulator(True), ValueError,
         r"^n must be an int >= 1, got True$"),
    case("metrics.Accumulator.add: too few values", lambda: metrics.Accumulator(2).add(1.0), ValueError,
         r"^add expects 2 values, got 1$"),
    case("metrics.Accumulator.add: a str value", lambda: metrics.Accumulator(1).add("1.5"), TypeError,
         r"^add's values must be numbers or tensors, got '1.5'$"),
    case("metrics.num_correct: wrong shapes",
         lambda: metrics.num_correct(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long)), ValueError,
         r"^y_hat must have shape \(B, C\) or \(B,\) matching y \(5,\), got \(4, 3\)$"),
    case("metrics.num_correct: lists, not tensors", lambda: metrics.num_correct([[0.1, 0.9]], [1]), TypeError,
         r"^y_hat and y must be tensors, got list and list$"),
    case("metrics.accuracy: 3-d y_hat",
         lambda: metrics.accuracy(torch.zeros(4, 3, 2), torch.zeros(4, dtype=torch.long)), ValueError,
         r"^y_hat must have shape \(B, C\) or \(B,\) matching y \(4,\), got \(4, 3, 2\)$"),
    case("metrics.evaluate: empty loader", lambda: metrics.evaluate(net(), empty_loader()), ValueError,
         r"^data_iter yielded no batches$"),
    case("metrics.evaluate_sums: net is a str", lambda: metrics.evaluate_sums("mlp", train()), TypeError,
         r"^net must be a torch.nn.Module, got str$"),
    case("metrics.evaluate: net is a str", lambda: metrics.evaluate("mlp", train()), TypeError,
         r"^net must be a torch.nn.Module, got str$"),
    case("metrics.evaluate: loss is a str", lambda: metrics.evaluate(net(), train(), loss="mse"), TypeError,
         r"^loss must be a function \(y_hat, y\) -> mean loss, got str 'mse'$"),
    case("metrics.evaluate: data_iter is a number", lambda: metrics.evaluate(net(), 5), TypeError,
         r"^data_iter must be an iterable of \(X, y\) batches, got int$"),
    case("metrics.evaluate: unknown device", lambda: metrics.evaluate(net(), train(), device="gpu"),
         ValueError, r"^device must be a torch.device"),
    case("metrics.evaluate_accuracy: no batches", lambda: metrics.evaluate_accuracy(net(), []), ValueError,
         r"^data_iter yielded no batches$"),

    # ------------------------------------------------------------ schedules
    case("schedules.Constant: negative lr", lambda: Constant(-0.1), ValueError, "^lr " + RATE + "-0.1$"),
    case("schedules.Constant: NaN lr", lambda: Constant(nan), ValueError, "^lr " + RATE + "nan$"),
    case("schedules.Constant: inf lr", lambda: Constant(inf), ValueError, "^lr " + RATE + "inf$"),
    case("schedules.Constant: str lr", lambda: Constant("0.1"), ValueError, "^lr " + RATE + "'0.1'$"),
    case("schedules.Constant: bool lr", lambda: Constant(True), ValueError, "^lr " + RATE + "True$"),
    case("schedules.SquareRoot: NaN lr", lambda: schedules.SquareRoot(nan), ValueError,
         "^lr " + RATE + "nan$"),
    case("schedules.LinearDecay: a final rate above the start", lambda: schedules.LinearDecay(0.5, 10, 0.6),
         ValueError, r"^final_lr must be in \[0, base_lr=0.5\], got 0.6$"),
    case("schedules.Polynomial: power 0", lambda: schedules.Polynomial(0.5, 10, 0), ValueError,
         r"^power must be a finite number > 0, got 0$"),
    case("schedules.CosineRestarts: a float T_mult", lambda: schedules.CosineRestarts(0.5, 10, 1.5), ValueError,
         r"^T_mult must be an int >= 1, got 1.5$"),
    case("schedules.Cyclic: an unknown mode", lambda: schedules.Cyclic(0.1, 1.0, mode="exp"), ValueError,
         r"^mode must be one of \('triangular', 'triangular2', 'exp_range'\), got 'exp'$"),
    case("schedules.WSD: warmup and cooldown longer than the run", lambda: schedules.WSD(0.5, 10, 6, 5),
         ValueError, r"^warmup_steps \+ decay_steps must be <= max_update=10, got 6 \+ 5$"),
    case("schedules.InverseSquareRoot: no warmup", lambda: schedules.InverseSquareRoot(0.5, 0), ValueError,
         r"^warmup_steps must be an int >= 1, got 0$"),
    case("schedules.Factor: factor above 1", lambda: schedules.Factor(0.5, 1.5), ValueError,
         "^factor " + DECAY + "1.5$"),
    case("schedules.Factor: floor above the start", lambda: schedules.Factor(0.5, 0.9, 0.6), ValueError,
         r"^stop_factor_lr must be in \[0, base_lr=0.5\] \(a floor below the start\), got 0.6$"),
    case("schedules.MultiFactor: no milestones", lambda: schedules.MultiFactor(0.5, [], 0.5), ValueError,
         r"^milestones must be a non-empty sequence of ints >= 0, got \[\]$"),
    case("schedules.MultiFactor: milestones not increasing", lambda: schedules.MultiFactor(0.5, [3, 3], 0.5),
         ValueError, r"^milestones must be strictly increasing, got \[3, 3\]$"),
    case("schedules.MultiFactor: milestones is a number", lambda: schedules.MultiFactor(0.5, 3, 0.5),
         ValueError, r"^milestones must be a sequence of ints >= 0, got 3$"),
    case("schedules.MultiFactor: NaN factor", lambda: schedules.MultiFactor(0.5, [3], nan), ValueError,
         "^factor " + DECAY + "nan$"),
    case("schedules.Step: step_size 0", lambda: schedules.Step(0.5, 0), ValueError,
         r"^step_size must be an int >= 1, got 0$"),
    case("schedules.Step: float step_size", lambda: schedules.Step(0.5, 2.5), ValueError,
         r"^step_size must be an int >= 1, got 2.5$"),
    case("schedules.Exponential: gamma 0", lambda: schedules.Exponential(0.5, 0), ValueError,
         "^gamma " + DECAY + "0$"),
    case("schedules.Exponential: negative base_lr", lambda: schedules.Exponential(-1, 0.9), ValueError,
         "^base_lr " + RATE + "-1$"),
    case("schedules.Cosine: final_lr above base_lr", lambda: schedules.Cosine(0.1, 0.2, 10), ValueError,
         r"^final_lr must be in \[0, base_lr=0.1\], got 0.2$"),
    case("schedules.Cosine: warmup as long as the schedule",
         lambda: schedules.Cosine(0.1, 0.0, 10, warmup_steps=10), ValueError,
         r"^warmup_steps must be in \[0, max_update=10\), got 10$"),
    case("schedules.Cosine: max_update 0", lambda: schedules.Cosine(0.1, 0.0, 0), ValueError,
         r"^max_update must be an int >= 1, got 0$"),
    case("schedules.Warmup: schedule is a number", lambda: schedules.Warmup(0.1, 5), ValueError,
         r"^schedule must be a schedule t -> lr, got 0.1$"),
    case("schedules.Warmup: schedule(0) is NaN", lambda: schedules.Warmup(lambda t: nan, 5), ValueError,
         r"^schedule\(0\) must be a finite number >= 0, got nan$"),
    case("schedules.Warmup: warmup_steps 0", lambda: schedules.Warmup(Constant(0.1), 0), ValueError,
         r"^warmup_steps must be an int >= 1, got 0$"),
    case("schedules.Warmup: begin_lr above the target", lambda: schedules.Warmup(Constant(0.1), 5, 0.5),
         ValueError, r"^begin_lr must be in \[0, schedule\(0\)=0.1\] \(a warmup rises\), got 0.5$"),
    case("schedules.OneCycle: total_steps 1", lambda: schedules.OneCycle(0.1, 1), ValueError,
         r"^total_steps must be an int >= 2, got 1$"),
    case("schedules.OneCycle: pct_start 1.5", lambda: schedules.OneCycle(0.1, 10, pct_start=1.5), ValueError,
         r"^pct_start must be a number in \(0, 1\), got 1.5$"),
    case("schedules.OneCycle: a rise of no step", lambda: schedules.OneCycle(0.1, 3, pct_start=0.3),
         ValueError, r"^pct_start \* total_steps must be > 1 so the rise has at least one step"),
    case("schedules.OneCycle: div_factor below 1", lambda: schedules.OneCycle(0.1, 10, div_factor=0.5),
         ValueError, r"^div_factor must be a finite number >= 1, got 0.5$"),
    case("schedules.OneCycle: unknown anneal", lambda: schedules.OneCycle(0.1, 10, anneal="cosine"),
         ValueError, r"^anneal must be 'cos' or 'linear', got 'cosine'$"),
    case("schedules.Schedule.__call__: negative t", lambda: Constant(0.1)(-1), ValueError, T + "-1$"),
    case("schedules.Schedule.__call__: float t", lambda: Constant(0.1)(1.5), ValueError, T + "1.5$"),
    case("schedules.Schedule.__call__: bool t", lambda: Constant(0.1)(True), ValueError, T + "True$"),
    case("schedules.Schedule.values: 2-D ts", lambda: Constant(0.1).values([[0, 1]]), ValueError, TS),
    case("schedules.check_t: str t", lambda: schedules.check_t("3"), ValueError, T + "'3'$"),
    case("schedules.lr_values: a negative t", lambda: schedules.lr_values(Constant(0.1), [0, -1]), ValueError,
         TS),
    case("schedules.lr_values: float ts", lambda: schedules.lr_values(lambda t: 0.1, [0.5]), ValueError, TS),
    case("schedules.lr_values: schedule is a number", lambda: schedules.lr_values(0.1, [0]), ValueError,
         r"^schedule must be a schedule t -> lr, got 0.1$"),
    case("schedules.ScheduleLR: a net, not an optimizer", lambda: schedules.ScheduleLR(net(), Constant(0.1)),
         ValueError, r"^optimizer must be a torch.optim.Optimizer, got Linear$"),
    case("schedules.ScheduleLR: schedule is a number", lambda: schedules.ScheduleLR(sgd(), 0.1), ValueError,
         r"^schedule must be a schedule t -> lr, got 0.1$"),
    case("schedules.ScheduleLR: a negative rate", lambda: schedules.ScheduleLR(sgd(), lambda t: -1.0),
         ValueError, r"^schedule\(0\) must return a finite number >= 0, got -1.0$"),

    # ------------------------------------------------------------ training
    case("training.fit: num_epochs 0", lambda: fit(num_epochs=0), ValueError,
         r"^num_epochs must be an int >= 1, got 0$"),
    case("training.fit: bool num_epochs", lambda: fit(num_epochs=True), ValueError,
         r"^num_epochs must be an int >= 1, got True$"),
    case("training.fit: float num_epochs", lambda: fit(num_epochs=2.0), ValueError,
         r"^num_epochs must be an int >= 1, got 2.0$"),
    case("training.fit: negative lr", lambda: fit(lr=-0.1), ValueError, "^lr " + RATE + "-0.1$"),
    case("training.fit: NaN lr", lambda: fit(lr=nan), ValueError, "^lr " + RATE + "nan$"),
    case("training.fit: inf lr", lambda: fit(lr=inf), ValueError, "^lr " + RATE + "inf$"),
    case("training.fit: str lr", lambda: fit(lr="0.1"), ValueError, "^lr " + RATE + "'0.1'$"),
    case("training.fit: unknown interval", lambda: fit(interval="batch"), ValueError,
         r"^interval must be 'epoch' or 'step', got 'batch'$"),
    case("training.fit: net is a str", lambda: fit(net="lenet"), TypeError,
         r"^net must be a torch.nn.Module, got str$"),
    case("training.fit: empty train_iter", lambda: fit(train_iter=empty_loader()), ValueError,
         r"^train_iter holds no batches$"),
    case("training.fit: train_iter without len()", lambda: fit(train_iter=iter(train())), TypeError,
         r"^train_iter must have a len\(\) \(its batches per epoch\), got generator$"),
    case("training.fit: negative seed", lambda: fit(seed=-1), ValueError, SEED + " or None, got -1$"),
    case("training.fit: neither lr nor optimizer", lambda: fit(lr=None), ValueError,
         r"^give lr \(a number\) or optimizer; got neither$"),
    case("training.fit: both lr and optimizer", lambda: fit(optimizer=lambda p: torch.optim.SGD(p, lr=0.1)),
         ValueError, r"^give either lr or optimizer, not both"),
    case("training.fit: optimizer is a number", lambda: fit(lr=None, optimizer=0.1), TypeError,
         r"^optimizer must be a torch.optim.Optimizer or a factory params -> optimizer, got float$"),
    case("training.fit: optimizer of another net", lambda: fit(lr=None, optimizer=sgd()), ValueError,
         r"^optimizer holds parameters that are not net's"),
    case("training.fit: scheduler is a number", lambda: fit(scheduler=5), TypeError,
         r"^scheduler must be None, a schedule t -> lr, a torch LRScheduler"),
    case("training.fit: a schedule that gives NaN", lambda: fit(lr=None, scheduler=lambda t: nan), ValueError,
         r"^scheduler\(0\) must return a finite number >= 0, got nan$"),
    case("training.fit: scheduler bound to another optimizer",
         lambda: fit(scheduler=StepLR(sgd(), step_size=1)), ValueError,
         r"^scheduler is bound to a different optimizer than the one fit trains with"),
    case("training.fit: monitor without ReduceLROnPlateau", lambda: fit(monitor="test_loss"), ValueError,
         r"^monitor is only used with a ReduceLROnPlateau scheduler$"),
    case("training.fit: unknown monitor",
         lambda: fit(scheduler=lambda opt: ReduceLROnPlateau(opt), monitor="val_loss"), ValueError,
         r"^monitor must be one of \('train_loss', 'train_acc', 'valid_loss', 'valid_acc', 'test_loss', "
         r"'test_acc'\), got 'val_loss'$"),
    case("training.fit: loss is a str", lambda: fit(loss="cross-entropy"), TypeError,
         r"^loss must be a function \(y_hat, y\) -> mean loss, got str 'cross-entropy'$"),
    case("training.fit: animate is a str", lambda: fit(animate="no"), TypeError,
         r"^animate must be True or False, got 'no'$"),
    case("training.fit: checkpoint is a number", lambda: fit(checkpoint=3), TypeError,
         r"^checkpoint must be a file path \(str or os.PathLike\), got int 3$"),
    case("training.fit: resume=True without checkpoint", lambda: fit(resume=True), ValueError,
         r"^resume=True resumes from checkpoint's path: give checkpoint too$"),
    case("training.fit: resume from a file that does not exist",
         lambda: fit(resume="/nonexistent/run.pt"), FileNotFoundError,
         r"^resume: no checkpoint at /nonexistent/run.pt$"),
    case("checkpoint.save_checkpoint: path is None",
         lambda: checkpoint.save_checkpoint(None, net=None, optimizer=None, scheduler=None, history=None,
                                            step=0, loader=None), TypeError,
         r"^checkpoint must be a file path \(str or os.PathLike\), got NoneType None$"),
    case("checkpoint.load_checkpoint: path is a list",
         lambda: checkpoint.load_checkpoint(["run.pt"], net=None, optimizer=None, scheduler=None, loader=None),
         TypeError, r"^resume must be a file path \(str or os.PathLike\), got list \['run.pt'\]$"),
    case("checkpoint.read_history: path is a number", lambda: checkpoint.read_history(3), TypeError,
         r"^branch must be a file path \(str or os.PathLike\), got int 3$"),
    case("checkpoint.read_history: no file", lambda: checkpoint.read_history("/nonexistent/run.pt"),
         FileNotFoundError, r"^branch: no checkpoint at /nonexistent/run.pt$"),
    case("training.fit: branch is a number", lambda: fit(branch=3), TypeError,
         r"^branch must be a file path \(str or os.PathLike\), got int 3$"),
    case("training.fit: unknown device", lambda: fit(device="gpu"), ValueError,
         r"^device must be a torch.device or a name such as 'cpu', 'cuda' or 'cuda:0'"),
    case("training.fit: empty test_iter", lambda: fit(test_iter=empty_loader()), ValueError,
         r"^test_iter holds no batches$"),
    case("training.fit: test_iter is None and no valid_iter", lambda: fit(test_iter=None), ValueError,
         r"^fit needs test_iter or valid_iter to evaluate on, got None for both$"),
    case("training.fit: test_iter is a number", lambda: fit(test_iter=3), TypeError,
         r"^test_iter must be an iterable of \(X, y\) batches"),
    case("training.fit: batches the net cannot take (wrong shapes)",
         lambda: fit(train_iter=data.TensorLoader(torch.zeros(8, 3), torch.zeros(8, dtype=torch.long), 4)),
         ValueError, r"^net could not train on train_iter's first batch \(X of shape \(4, 3\), "
                     r"y of shape \(4,\)\): RuntimeError: .*mat1 and mat2 shapes cannot be multiplied"),

    # ------------------------------------------------------------ plotting
    case("plotting.frames_into: a bytes buffer, not an Image widget",
         lambda: plotting.frames_into(b"").__enter__(), TypeError,
         r"^image must be an ipywidgets.Image \(with a value for PNG bytes\), got bytes$"),
    case("plotting.Animator: max_fps 0", lambda: plotting.Animator(max_fps=0), ValueError,
         r"^max_fps must be > 0, got 0$"),
    case("plotting.Animator: max_fps is a str", lambda: plotting.Animator(max_fps="2"), ValueError,
         r"^max_fps must be > 0, got '2'$"),
    case("plotting.Animator: max_share 2", lambda: plotting.Animator(max_share=2), ValueError,
         r"^max_share must be in \(0, 1\], got 2$"),
    case("plotting.Animator: NaN max_fps", lambda: plotting.Animator(max_fps=nan), ValueError,
         r"^max_fps must be > 0, got nan$"),
    case("plotting.Animator.add: x and y of different lengths",
         lambda: plotting.Animator().add([1, 2], [1.0]), ValueError,
         r"^x and y must have the same length, got 2 and 1$"),
    case("plotting.Animator.add: another number of lines", lambda: animator_with_lines(2).add(1, [1, 2, 3]),
         ValueError, r"^y must have one value per line \(2\), got 3$"),
    case("plotting.plot_schedules: no schedules", lambda: plotting.plot_schedules({}, 10), ValueError,
         r"^schedules must hold at least one schedule$"),
    case("plotting.plot_schedules: a list, not a dict", lambda: plotting.plot_schedules([Constant(0.1)], 10),
         TypeError, r"^schedules must be a dict \{label: schedule\}, got list$"),
    case("plotting.plot_schedules: num_updates 0", lambda: plotting.plot_schedules({"a": Constant(0.1)}, 0),
         ValueError, r"^num_updates must be an int >= 1, got 0$"),
    case("plotting.plot_schedules: a number as a schedule", lambda: plotting.plot_schedules({"a": 0.1}, 5),
         ValueError, r"^schedule must be a schedule t -> lr, got 0.1$"),
    case("plotting.plot_histories: no runs", lambda: plotting.plot_histories({}), ValueError,
         r"^histories must hold at least one run$"),
    case("plotting.plot_histories: a list, not a dict", lambda: plotting.plot_histories([history()]),
         TypeError, r"^histories must be a dict \{label: History\}, got list$"),
    case("plotting.plot_histories: unknown metric",
         lambda: plotting.plot_histories({"a": history()}, metrics=("train_loss", "val_acc")), ValueError,
         r"^metrics must name one or more of \['train_loss', .*\], got \['val_acc'\]$"),
    case("plotting.plot_quadratic_runs: no runs", lambda: plotting.plot_quadratic_runs({}, [0.1, 1]),
         ValueError, r"^runs must hold at least one run$"),
    case("plotting.plot_quadratic_runs: a 3-d run", lambda: plotting.plot_quadratic_runs({"a": run3d()},
                                                                                          [1, 2, 3]),
         ValueError,
         r"^runs and lambdas must be 2-D: .*got a path of shape \(6, 3\) and lambdas \[1.0, 2.0, 3.0\]$"),
    case("plotting.QuadraticPlot: 3 eigenvalues", lambda: plotting.QuadraticPlot([1, 2, 3], [1, 1, 1], 10),
         ValueError, r"^the playground is 2-D: lambdas and x0 must hold 2 numbers each"),
    case("plotting.QuadraticPlot: num_steps 0", lambda: plotting.QuadraticPlot([0.1, 1], [-1, 0.8], 0),
         ValueError, r"^num_steps must be an int >= 1, got 0$"),
    case("plotting.momentum_animation: no betas",
         lambda: plotting.momentum_animation([0.1, 1], [-1, 0.8], 10, 0.5, []), ValueError,
         r"^betas must hold at least one momentum \(one frame each\), got none$"),
    case("plotting.momentum_animation: alpha 0",
         lambda: plotting.momentum_animation([0.1, 1], [-1, 0.8], 10, 0.0, [0.5]), ValueError,
         r"^alpha must be a finite number > 0 \(or an array of them\), got 0.0$"),
    case("plotting.show_images: num_rows 0", lambda: plotting.show_images(torch.zeros(4, 28, 28), 0, 2),
         ValueError, r"^num_rows must be an int >= 1, got 0$"),
    case("plotting.show_images: float num_cols", lambda: plotting.show_images(torch.zeros(4, 28, 28), 2, 2.5),
         ValueError, r"^num_cols must be an int >= 1, got 2.5$"),
    case("plotting.show_images: 1-d images", lambda: plotting.show_images(torch.zeros(5), 1, 5), ValueError,
         r"^imgs must have shape \(n, H, W\) or \(n, 1, H, W\), got \(5,\)$"),
    case("plotting.show_images: 3 channels", lambda: plotting.show_images(torch.zeros(2, 3, 28, 28), 1, 2),
         ValueError, r"^imgs must have shape \(n, H, W\) or \(n, 1, H, W\), got \(2, 3, 28, 28\)$"),
    case("plotting.results_table: no runs", lambda: plotting.results_table({}), ValueError,
         r"^runs must hold at least one entry$"),
    case("plotting.results_table: a run with no History", lambda: plotting.results_table({"a": []}),
         ValueError, r"^runs\['a'\] holds no History$"),
    case("plotting.plot_best_rates: a list", lambda: plotting.plot_best_rates([0.1]), TypeError,
         r"^best must be a dict \{label: dict \{batch size: lr\}\}, got list$"),
    case("plotting.plot_steps_to_target: no optimizer", lambda: plotting.plot_steps_to_target({}), ValueError,
         r"^steps must hold at least one optimizer$"),
    case("plotting.plot_noise_scale: no run", lambda: plotting.plot_noise_scale({}), ValueError,
         r"^points must hold at least one run$"),
    case("plotting.plot_rate_curves: no strategies", lambda: plotting.plot_rate_curves({}), ValueError,
         r"^curves must hold at least one strategy$"),
    case("plotting.plot_rate_curves: ncols 0", lambda: plotting.plot_rate_curves({"a": []}, ncols=0), ValueError,
         r"^ncols must be an int >= 1, got 0$"),
    case("plotting.plot_differences: a list, not a dict", lambda: plotting.plot_differences([record()]),
         TypeError, r"^result must be a dict \{label: comparison of a strategy\}, got list$"),

    # ------------------------------------------------------------ lr_finder
    case("lr_finder.sweep_rates: start_lr 0", lambda: lr_finder.sweep_rates(0, 10, 100), ValueError,
         "^start_lr " + RATE_POSITIVE + "0$"),
    case("lr_finder.sweep_rates: NaN end_lr", lambda: lr_finder.sweep_rates(1e-7, nan, 100), ValueError,
         "^end_lr " + RATE_POSITIVE + "nan$"),
    case("lr_finder.sweep_rates: start_lr above end_lr", lambda: lr_finder.sweep_rates(1.0, 0.1, 100),
         ValueError, r"^start_lr must be < end_lr \(the test sweeps upwards\)"),
    case("lr_finder.sweep_rates: num_iter below MIN_ITER", lambda: lr_finder.sweep_rates(1e-7, 10, 5),
         ValueError, r"^num_iter must be an int >= 10, got 5$"),
    case("lr_finder.sweep_rates: unknown mode", lambda: lr_finder.sweep_rates(1e-7, 10, 100, "log"),
         ValueError, r"^mode must be 'exp' or 'linear', got 'log'$"),
    case("lr_finder.smooth_losses: smooth 1", lambda: lr_finder.smooth_losses([1.0, 2.0], 1), ValueError,
         r"^smooth must be a number in \[0, 1\) \(the weight of the past\), got 1$"),
    case("lr_finder.smooth_losses: a NaN loss", lambda: lr_finder.smooth_losses([1.0, nan, 2.0]), ValueError,
         r"^raw_losses must be finite numbers \(a range test keeps no non-finite loss\), "
         r"got nan at index 1$"),
    case("lr_finder.smooth_losses: a str loss", lambda: lr_finder.smooth_losses(["high"]), ValueError,
         r"^raw_losses must be a sequence of finite numbers, got \['high'\]$"),
    case("lr_finder.valley: lrs and losses of different lengths",
         lambda: lr_finder.valley([1e-3, 1e-2, 1e-1], [2.0, 1.0]), ValueError,
         r"^lrs and losses must be 1-D and of one length, got shapes \(3,\) and \(2,\)$"),
    case("lr_finder.valley: decreasing lrs", lambda: lr_finder.valley([1e-1, 1e-2], [2.0, 1.0]), ValueError,
         r"^lrs must be finite, > 0 and strictly increasing"),
    case("lr_finder.valley: depth 1.5", lambda: lr_finder.valley(CURVE_LRS, CURVE_LOSSES, depth=1.5),
         ValueError, r"^depth must be a number in \(0, 1\) \(the fraction of the descent\), got 1.5$"),
    case("lr_finder.fastai_valley: negative skip_end",
         lambda: lr_finder.fastai_valley(CURVE_LRS, CURVE_LOSSES, skip_end=-1), ValueError,
         r"^skip_end must be an int >= 0, got -1$"),
    case("lr_finder.steepest_slope: negative skip_start",
         lambda: lr_finder.steepest_slope(CURVE_LRS, CURVE_LOSSES, skip_start=-1), ValueError,
         r"^skip_start must be an int >= 0, got -1$"),
    case("lr_finder.minimum_over_ten: float skip_start",
         lambda: lr_finder.minimum_over_ten(CURVE_LRS, CURVE_LOSSES, skip_start=1.5), ValueError,
         r"^skip_start must be an int >= 0, got 1.5$"),
    case("lr_finder.divergence_half: negative diverged_at",
         lambda: lr_finder.divergence_half(CURVE_LRS, CURVE_LOSSES, diverged_at=-1), ValueError,
         "^diverged_at " + RATE_POSITIVE + "-1$"),
    case("lr_finder.divergence_half: diverge_th 1",
         lambda: lr_finder.divergence_half(CURVE_LRS, CURVE_LOSSES, diverge_th=1), ValueError,
         r"^diverge_th must be a number > 1"),
    case("lr_finder.suggest: an inf loss", lambda: lr_finder.suggest(CURVE_LRS[:3], [1.0, inf, 2.0]),
         ValueError, r"^losses must be finite"),
    case("lr_finder.suggest: lrs is a str", lambda: lr_finder.suggest("abc", [1.0, 2.0, 3.0]), ValueError,
         r"^lrs and losses must be 1-D sequences of numbers"),
    case("lr_finder.LRRangeResult.with_smoothing: negative smooth", lambda: result().with_smoothing(-0.1),
         ValueError, r"^smooth must be a number in \[0, 1\)"),
    case("lr_finder.LRRangeResult.plot: unknown highlight", lambda: result().plot(highlight="best"),
         ValueError, r"^highlight must be one of \['valley', 'steepest', 'minimum/10', 'divergence/2'\]"),
    case("lr_finder.LRRangeResult.plot: skips leave no point",
         lambda: result().plot(skip_start=15, skip_end=5), ValueError,
         r"^skip_start \+ skip_end must leave at least one of the 20 points"),
    case("lr_finder.lr_range_test: empty train_iter", lambda: range_test(train_iter=empty_loader()),
         ValueError, r"^train_iter holds no batches$"),
    case("lr_finder.lr_range_test: train_iter is a number", lambda: range_test(train_iter=5), TypeError,
         r"^train_iter must be an iterable of \(X, y\) batches, got int$"),
    case("lr_finder.lr_range_test: num_iter 5", lambda: range_test(num_iter=5), ValueError,
         r"^num_iter must be an int >= 10, got 5$"),
    case("lr_finder.lr_range_test: inf end_lr", lambda: range_test(end_lr=inf), ValueError,
         "^end_lr " + RATE_POSITIVE + "inf$"),
    case("lr_finder.lr_range_test: NaN smooth", lambda: range_test(smooth=nan), ValueError,
         r"^smooth must be a number in \[0, 1\)"),
    case("lr_finder.lr_range_test: net is a str", lambda: range_test(net="lenet"), TypeError,
         r"^net must be a torch.nn.Module, got str$"),
    case("lr_finder.lr_range_test: loss is a str", lambda: range_test(loss="mse"), TypeError,
         r"^loss must be a function \(y_hat, y\) -> mean loss, got str 'mse'$"),
    case("lr_finder.lr_range_test: unknown device", lambda: range_test(device="gpu"), ValueError,
         r"^device must be a torch.device"),
    case("lr_finder.lr_range_test: optimizer of another net", lambda: range_test(optimizer=sgd()), ValueError,
         r"^optimizer holds parameters that are not net's"),

    # ------------------------------------------------------------ momentum
    case("momentum.momentum_step: NaN lr", lambda: momentum.momentum_step([], [], nan, 0.9), ValueError,
         "^lr " + RATE + "nan$"),
    case("momentum.momentum_step: momentum 1", lambda: momentum.momentum_step([], [], 0.1, 1), ValueError,
         r"^momentum must be a number in \[0, 1\), got 1$"),
    case("momentum.momentum_step: negative weight_decay",
         lambda: momentum.momentum_step([], [], 0.1, 0.9, weight_decay=-1e-4), ValueError,
         "^weight_decay " + RATE + "-0.0001$"),
    case("momentum.momentum_step: fewer velocities than params",
         lambda: momentum.momentum_step(list(net().parameters()), [], 0.1, 0.9), ValueError,
         r"^params and velocities must pair up \(one velocity per parameter\), "
         r"got 2 params and 0 velocities$"),
    case("momentum.MomentumSGD: lr 0", lambda: momentum.MomentumSGD(net().parameters(), lr=0), ValueError,
         "^lr " + RATE_POSITIVE + "0$"),
    case("momentum.MomentumSGD: momentum 1.0",
         lambda: momentum.MomentumSGD(net().parameters(), lr=0.1, momentum=1.0), ValueError,
         r"^momentum must be a number in \[0, 1\), got 1.0$"),
    case("momentum.MomentumSGD: bool momentum",
         lambda: momentum.MomentumSGD(net().parameters(), lr=0.1, momentum=True), ValueError,
         r"^momentum must be a number in \[0, 1\), got True$"),
    case("momentum.MomentumSGD: Nesterov without momentum",
         lambda: momentum.MomentumSGD(net().parameters(), lr=0.1, nesterov=True), ValueError,
         r"^nesterov=True needs a momentum > 0, got momentum=0$"),
    case("momentum.quadratic_eigenvalues: kappa 0.5", lambda: momentum.quadratic_eigenvalues(0.5), ValueError,
         r"^kappa must be a finite number >= 1 \(the condition number\), got 0.5$"),
    case("momentum.quadratic_eigenvalues: inf kappa", lambda: momentum.quadratic_eigenvalues(inf), ValueError,
         r"^kappa must be a finite number >= 1"),
    case("momentum.quadratic_eigenvalues: lambda_max 0", lambda: momentum.quadratic_eigenvalues(10, 0),
         ValueError, "^lambda_max " + RATE_POSITIVE + "0$"),
    case("momentum.run_quadratic: alpha 0", lambda: momentum.run_quadratic(0, 0.5, [0.1, 1], [1, 1], 10),
         ValueError, r"^alpha must be a finite number > 0 \(or an array of them\), got 0$"),
    case("momentum.run_quadratic: bool alpha",
         lambda: momentum.run_quadratic(True, 0.5, [0.1, 1], [1, 1], 10), ValueError,
         r"^alpha must be a finite number > 0"),
    case("momentum.run_quadratic: beta 1", lambda: momentum.run_quadratic(0.1, 1, [0.1, 1], [1, 1], 10),
         ValueError, r"^beta must be a number in \[0, 1\) \(or an array of them\), got 1$"),
    case("momentum.run_quadratic: a negative eigenvalue",
         lambda: momentum.run_quadratic(0.1, 0.5, [-0.1, 1], [1, 1], 10), ValueError,
         r"^lambdas must be a 1-D sequence of finite eigenvalues > 0, got \[-0.1, 1\]$"),
    case("momentum.run_quadratic: x0 of the wrong shape",
         lambda: momentum.run_quadratic(0.1, 0.5, [0.1, 1], [1, 1, 1], 10), ValueError,
         r"^x0 must be 2 finite numbers \(one per eigenvalue\)"),
    case("momentum.run_quadratic: negative num_steps",
         lambda: momentum.run_quadratic(0.1, 0.5, [0.1, 1], [1, 1], -1), ValueError,
         r"^num_steps must be an int >= 0, got -1$"),
    case("momentum.convergence_rate: a NaN in the alpha grid",
         lambda: momentum.convergence_rate(np.array([0.1, nan]), 0.5, [0.1, 1]), ValueError,
         r"^alpha must be a finite number > 0 \(or an array of them\)"),
    case("momentum.optimal_gd: no eigenvalues", lambda: momentum.optimal_gd([]), ValueError,
         r"^lambdas must be a 1-D sequence of finite eigenvalues > 0, got \[\]$"),
    case("momentum.optimal_momentum: 2-D eigenvalues", lambda: momentum.optimal_momentum([[0.1, 1]]),
         ValueError, r"^lambdas must be a 1-D sequence"),

    # ------------------------------------------------------------ widgets
    case("widgets.make_schedule: unknown kind", lambda: widgets.make_schedule("polynomial"), ValueError,
         r"^kind must be one of \['constant', .*\], got 'polynomial'$"),
    case("widgets.make_schedule: unknown slider", lambda: widgets.make_schedule("cosine", T=3), ValueError,
         r"^unknown parameter\(s\) \['T'\] for 'cosine'; it takes \['base_lr', "),
    case("widgets.make_schedule: step_size slider at 2.5",
         lambda: widgets.make_schedule("step", step_size=2.5), ValueError,
         r"^step_size must be an int >= 1, got 2.5$"),
    case("widgets.make_schedule: negative lr slider", lambda: widgets.make_schedule("constant", lr=-1),
         ValueError, "^lr " + RATE + "-1$"),
    case("widgets.make_schedule: pct_start slider past 1", lambda: widgets.make_schedule("one-cycle",
                                                                                         pct_start=1.2),
         ValueError, r"^pct_start must be a number in \(0, 1\), got 1.2$"),
    case("widgets.explore_schedule: params is a list", lambda: widgets.explore_schedule("cosine", [0.1]),
         TypeError, r"^params must be a dict \{slider name: value\}, got list$"),
    case("widgets.explore_schedule: num_updates 0", lambda: widgets.explore_schedule("cosine", {}, 0),
         ValueError, r"^num_updates must be an int >= 1, got 0$"),
    case("widgets.explore_momentum: alpha 0", lambda: widgets.explore_momentum(0, 0.5, 10), ValueError,
         r"^alpha must be a finite number > 0"),
    case("widgets.explore_momentum: beta slider at 1", lambda: widgets.explore_momentum(0.5, 1, 10),
         ValueError, r"^beta must be a number in \[0, 1\)"),
    case("widgets.explore_momentum: kappa below 1", lambda: widgets.explore_momentum(0.5, 0.5, 0.5),
         ValueError, r"^kappa must be a finite number >= 1"),
    case("widgets.explore_momentum: negative num_steps",
         lambda: widgets.explore_momentum(0.5, 0.5, 10, num_steps=-1), ValueError,
         r"^num_steps must be an int >= 0, got -1$"),
    case("widgets.explore_range_test: result is a dict",
         lambda: widgets.explore_range_test({"lrs": []}, 0.5, "valley"), TypeError,
         r"^result must be an LRRangeResult \(what lr_range_test returns\), got dict$"),
    case("widgets.range_test_explorer: result is None", lambda: widgets.range_test_explorer(None), TypeError,
         r"^result must be an LRRangeResult \(what lr_range_test returns\), got NoneType$"),
    case("widgets.schedule_explorer: num_updates 0", lambda: widgets.schedule_explorer(0), ValueError,
         r"^num_updates must be an int >= 1, got 0$"),
    case("widgets.schedule_explorer: num_epochs 0 for the train button",
         lambda: widgets.schedule_explorer(10, train_iter=train(), test_iter=train(), num_epochs=0),
         ValueError, r"^num_epochs must be an int >= 1, got 0$"),
    case("widgets.slider_grid: min above max", lambda: widgets.slider_grid(1.0, 0.0, 0.1), ValueError,
         r"^min must be < max \(both finite\), got min=1.0, max=0.0$"),
    case("widgets.slider_grid: NaN step", lambda: widgets.slider_grid(0.0, 1.0, nan), ValueError,
         r"^step must be > 0, got nan$"),
    case("widgets.best_on_grid: a 2-D alpha grid",
         lambda: widgets.best_on_grid([0.1, 1.0], [[0.5, 1.0]], [0.0]), ValueError,
         r"^alphas and betas must be non-empty 1-d sequences of slider values$"),
    case("widgets.momentum_playground: num_steps 0", lambda: widgets.momentum_playground(num_steps=0),
         ValueError, r"^num_steps must be an int >= 1, got 0$"),

    # ------------------------------------------------------------ compare
    case("compare.t_interval: no values", lambda: compare.t_interval([]), ValueError,
         r"^values must hold at least one number, got none$"),
    case("compare.paired_difference: one common seed",
         lambda: compare.paired_difference({0: 0.9, 1: 0.8}, {1: 0.7}), ValueError,
         r"^a and b must share at least two seeds for a paired difference, got \[1\]$"),
    case("compare.holm: a list", lambda: compare.holm([0.1]), TypeError,
         r"^p_values must be a dict \{name: p\}, got list$"),
    case("compare.death_rate: a run without dead", lambda: compare.death_rate([{"seed": 0}]), KeyError, "dead"),
    case("compare.rate_curves: no runs", lambda: compare.rate_curves([]), ValueError,
         r"^runs must hold at least one run, got none$"),
    case("compare.best_peaks: a run of another kind", lambda: compare.best_peaks([record()]), ValueError,
         r"^runs\[0\] must be a sweep's run, a dict holding \['dead', 'lr', 'seed', 'strategy', 'test_acc', "
         r"'valid_acc'\]"),
    case("compare.compare_at_peaks: a rate the runs lack",
         lambda: compare.compare_at_peaks([sweep_run()], peaks={"a": 0.3}), ValueError,
         r"^peaks\['a'\] = 0.3 is not a rate the runs hold for that strategy$"),
    case("compare.good_region: negative tolerance", lambda: compare.good_region([sweep_run()], tolerance=-0.1),
         ValueError, r"^tolerance must be a number >= 0 \(in accuracy\), got -0.1$"),
    case("compare.verdict_table: no runs", lambda: compare.verdict_table([]), ValueError,
         r"^runs must hold at least one run, got none$"),
    case("compare.paired_by_rate: an unknown strategy",
         lambda: compare.paired_by_rate([dict(strategy="a", seed=0, lr=0.1, valid_acc=0.5, test_acc=0.5, dead=False)],
                                        "a", "b"), ValueError, r"^'b' is not a strategy of runs, which hold \['a'\]$"),
    case("compare.seeds_needed: confidence 1", lambda: compare.seeds_needed(dict(mean=0.1, sd=0.1), 1.0),
         ValueError, r"^confidence must be a number in \(0, 1\), got 1.0$"),

    # ------------------------------------------------------------ experiments
    case("experiments.Sweep: an unknown net", lambda: sweep(net="vgg"), ValueError,
         r"^net must be one of \('lenet', 'mlp'\), got 'vgg'$"),
    case("experiments.is_dead: a record without valid_acc", lambda: experiments.is_dead({"test_acc": 0.5}),
         ValueError, r"^record must be a dict holding 'valid_acc' \(a sweep's run\)"),
    case("experiments.run_one: an unknown strategy",
         lambda: experiments.run_one(sweep(), "linear", 0.1, 0, (None, None, None)), ValueError,
         r"^strategy must be one of \('constant', "),
    case("experiments.run_sweep: a shard outside its count",
         lambda tmp_path: experiments.run_sweep(sweep(), tmp_path / "s.json", shard=(2, 2)), ValueError,
         r"^shard must be \(i, k\) with 0 <= i < k, got \(2, 2\)$"),
    case("experiments.run_sweep: threads 0",
         lambda tmp_path: experiments.run_sweep(sweep(), tmp_path / "s.json", threads=0), ValueError,
         r"^threads must be an int >= 1 or None, got 0$"),
    case("experiments.load_sweep: not JSON", lambda tmp_path: experiments.load_sweep(write(tmp_path, "{runs: [")),
         ValueError, r"runs.json is not an lrcourse sweep file \(not JSON: Expecting property name"),
    case("experiments.extends: a definition that is no dict", lambda: experiments.extends(None, {}), TypeError,
         r"^new must be a sweep's definition \(Sweep.definition\(\)\), got None$"),
    case("experiments.load_or_run: an unknown sweep", lambda: experiments.load_or_run("warmup"), ValueError,
         r"^name must be one of \('schedules',"),
    case("experiments.cache_path: a name, not a Sweep", lambda: experiments.cache_path("schedules"), TypeError,
         r"^sweep must be a Sweep \(one of experiments.SWEEPS\), got str$"),
    case("experiments.to_record: a dict, not a History",
         lambda: experiments.to_record("constant", 0.1, 0, {}), TypeError,
         r"^history must be a History \(what fit returns\), got dict$"),
    case("experiments.to_record: a History without validation",
         lambda: experiments.to_record("constant", 0.1, 0, training.History(test_acc=[0.5])), ValueError,
         r"^history has no validation accuracy: train with fit\(\.\.\., valid_iter=\.\.\.\)$"),
    case("experiments.join: records, not stored sweeps", lambda: experiments.join([{}]), TypeError,
         r"^results must be one or more SweepResult \(from load_or_run\), got \(\[\{\}\],\)$"),
    case("experiments.main: an unknown sweep", lambda: experiments.main(["run", "nothing"]), SystemExit, "2"),
    case("experiments.Sweep: an unknown task", lambda: sweep(task="detect"), ValueError,
         r"^task must be one of \('classify', 'finetune', 'full_batch', 'anytime'\), got 'detect'$"),
    case("experiments.Sweep: sharpness on more images than a full batch holds",
         lambda: sweep(task="full_batch", strategies=(("gradient descent", (0.1,)),), batch_size=8, sharpness=9),
         ValueError, r"^sweep 's': a full-batch run measures the sharpness on its own subset of batch_size=8 "
         r"images, so sharpness must be at most that, got 9$"),
    case("experiments.Sweep: a negative sharpness", lambda: sweep(sharpness=-1), ValueError,
         r"^sharpness must be an int >= 0, got -1$"),
    case("experiments.sharpness_steps: no steps", lambda: experiments.sharpness_steps(0), ValueError,
         r"^total must be an int >= 1, got 0$"),
    case("experiments.anytime_schedules: an unknown family",
         lambda: experiments.anytime_schedules("Adam", 0.1, 10, 5), ValueError,
         r"^family must be one of \('momentum SGD', 'schedule-free SGD'\), got 'Adam'$"),
    case("experiments.anytime_schedules: a budget whose cooldowns are no whole epochs",
         lambda: experiments.anytime_schedules("momentum SGD", 0.1, 15, 5), ValueError,
         r"^a cooldown of 10% of 15 epochs is not a whole number of epochs$"),
    case("experiments.anytime_runs: records of another sweep",
         lambda: experiments.anytime_runs([{"strategy": "constant"}]), ValueError,
         r"^runs must be an anytime sweep's records \(each with 'budgets'\), got \{'strategy': 'constant'\}$"),
    case("experiments.step_rates: a scheduler of PyTorch's", lambda: experiments.step_rates("plateau", 0.1, 2, 3),
         ValueError, r"^strategy 'plateau' has no reference schedule to read its rates from$"),
    case("experiments.batch_strategy: an unknown optimizer", lambda: experiments.batch_strategy("LAMB", 32),
         ValueError, r"^optimizer must be one of \('SGD', 'momentum', 'Adam'\), got 'LAMB'$"),
    case("experiments.batch_strategy: a negative warmup", lambda: experiments.batch_strategy("SGD", 32, -1),
         ValueError, r"^warmup must be an int >= 0, got -1$"),
    case("experiments.batch_grid: batch 0", lambda: experiments.batch_grid("SGD", 0), ValueError,
         r"^batch_size must be an int >= 1, got 0$"),
    case("experiments.curve_steps: no steps", lambda: experiments.curve_steps(0), ValueError,
         r"^total must be an int >= 1, got 0$"),
    # ------------------------------------------------------------ sharpness
    case("sharpness.hvp: v of the wrong shape",
         lambda: sharpness.hvp(net(), None, X30, y30, {"weight": torch.zeros(1)}), ValueError,
         r"^v must be a dict \{name: tensor\} shaped like net's trainable parameters"),
    case("sharpness.hessian_eigenvalues: k above iters",
         lambda: sharpness.hessian_eigenvalues(net(), None, X30, y30, k=3, iters=2), ValueError,
         r"^iters must be at least k to find k eigenvalues, got iters=2 and k=3$"),
    case("sharpness.sharpness: an empty batch", lambda: sharpness.sharpness(net(), None, X30[:0], y30[:0]),
         ValueError, r"^X and y hold no examples: the loss of an empty batch has no Hessian$"),
    case("sharpness.sharpness: iters 0", lambda: sharpness.sharpness(net(), None, X30, y30, iters=0), ValueError,
         r"^iters must be an int >= 1, got 0$"),
    case("sharpness.sharpness: nothing to train",
         lambda: sharpness.sharpness(net().requires_grad_(False), None, X30, y30), ValueError,
         r"^net has no parameters with requires_grad: the loss has no Hessian in them$"),
    case("sharpness.sharpness_tracker: an unknown option",
         lambda: sharpness.sharpness_tracker(X30, y30, 5, k=2), TypeError,
         r"^sharpness_tracker got unexpected options \['k'\]: it takes iters, tol, seed and chunk$"),
    case("sharpness.gradient_descent: lr 0",
         lambda: sharpness.gradient_descent(net(), X30, y30, lr=0.0, num_steps=1, every=1), ValueError,
         r"^lr must be a positive number, got 0.0$"),
    case("sharpness.tiny_gd: num_steps 0", lambda: sharpness.tiny_gd(0.1, num_steps=0), ValueError,
         r"^num_steps must be an int >= 1, got 0$"),
    case("sharpness.tiny_loss_grad_hessian: w of the wrong size",
         lambda: sharpness.tiny_loss_grad_hessian(np.zeros(47), np.zeros((4, 2)), np.zeros(4)), ValueError,
         r"^w must hold \(d \+ 1\)·h weights for X of d = 2 features, got 47$"),
    case("sharpness.edge_summary: after past the end of the runs",
         lambda: sharpness.edge_summary([dict(lr=0.1, seed=0, sharpness=[[0, 1.0]], loss=[1.0, 0.9])], after=5),
         ValueError, r"^after=5 is past the end of the run at lr 0\.1, seed 0$"),
    case("sharpness.edge_summary: a negative after",
         lambda: sharpness.edge_summary([], after=-1), ValueError, r"^after must be an int >= 0, got -1$"),
    case("sharpness.edge_crossing: no rates", lambda: sharpness.edge_crossing([[0, 1.0]], []), ValueError,
         r"^rates must be a non-empty list, one rate per step, got \[\]$"),
    case("sharpness.edge_crossing: an empty curve", lambda: sharpness.edge_crossing([], [0.1]), ValueError,
         r"^curve holds no points$"),
    case("sharpness.edge_crossing: a curve of single numbers", lambda: sharpness.edge_crossing([1.0], [0.1]),
         ValueError, r"^curve must be pairs \[step, λ_max\], got \[1\.0\]$"),
    case("plotting.plot_sharpness: a run without its rate",
         lambda: plotting.plot_sharpness({"a": {"sharpness": [[0, 1.0]]}}), ValueError,
         r"^runs\['a'\] must be a dict with 'lr'"),
    case("plotting.stability_animation: no rate", lambda: plotting.stability_animation([]), ValueError,
         r"^rates must hold at least one rate \(one frame each\), got none$"),
    case("plotting.stability_caption: not a run", lambda: plotting.stability_caption(None), TypeError,
         r"^run must be a TinyRun \(what tiny_gd returns\), got NoneType$"),
    case("widgets.explore_stability: lr 0", lambda: widgets.explore_stability(0.0), ValueError,
         r"^lr must be a positive number, got 0.0$"),
    case("widgets.stability_explorer: num_steps 0", lambda: widgets.stability_explorer(0), ValueError,
         r"^num_steps must be an int >= 1, got 0$"),
    # ------------------------------------------------------------ distributed
    case("distributed.init: an unknown backend", lambda: distributed.init("mpi"), ValueError,
         r"^backend must be 'nccl', 'gloo' or None, got 'mpi'$"),
    case("distributed.agree: a message, not an exception", lambda: distributed.agree("failed"), TypeError,
         r"^error must be an exception or None, got str 'failed'$"),
    case("distributed.reduce_floats: an unknown op", lambda: distributed.reduce_floats(1.0, op="min"),
         ValueError, r"^op must be 'sum' or 'max', got 'min'$"),
    case("distributed.check_same_params: a state dict", lambda: distributed.check_same_params({}), TypeError,
         r"^net must be a torch.nn.Module, got dict$"),
    case("distributed.wrap: a function", lambda: distributed.wrap(len, torch.device("cpu")), TypeError,
         r"^net must be a torch.nn.Module, got builtin_function_or_method$"),
    case("distributed.unwrap: None", lambda: distributed.unwrap(None), TypeError,
         r"^net must be a torch.nn.Module, got NoneType$"),
    case("distributed.check_divisible: a list of batches", lambda: distributed.check_divisible("train_iter", [], 2),
         TypeError, r"^train_iter must be a TensorLoader, got list$"),
    case("distributed.report: a dict", lambda: distributed.report({}), TypeError,
         r"^history must be a History \(what fit returns\), got dict$"),
    case("distributed.launch: no such script", lambda tmp_path: distributed.launch(tmp_path / "none.py"),
         FileNotFoundError, r"^script: no file at "),
    # ------------------------------------------------------------ scaling, ddp_demo
    case("scaling.noise_scale: one example", lambda: scaling.noise_scale(models.mlp(seed=0), torch.zeros(1, 784),
                                                                          torch.zeros(1, dtype=torch.long)),
         ValueError, r"^X and y must hold the same number of examples, at least 2"),
    case("scaling.steps_to_target: no points", lambda: scaling.steps_to_target([], 0.8), ValueError,
         r"^curve holds no points$"),
    case("scaling.critical_batch: two points", lambda: scaling.critical_batch([32, 64], [10, 5]), ValueError,
         r"^critical_batch needs at least 3 batch sizes that reached the target, got 2$"),
    case("scaling.steps_at_best_rate: records without curves",
         lambda: scaling.steps_at_best_rate([dict(strategy="a", lr=0.1, seed=0)], 0.8), ValueError,
         r"^runs must hold validation curves \(a sweep with curve=True\), got a record of "
         r"\['lr', 'seed', 'strategy'\]$"),
    case("ddp_demo.train: epochs 0", lambda: ddp_demo.train(num_epochs=0), ValueError,
         r"^num_epochs must be an int >= 1, got 0$"),
    case("ddp_demo.main: no --out", lambda: ddp_demo.main([]), SystemExit, "2"),
    case("finetune.task_data: per_class 0", lambda: finetune.task_data(train(), train(), train(), per_class=0),
         ValueError, r"^per_class must be an int >= 1, got 0$"),
    case("finetune.new_head: a negative seed", lambda: finetune.new_head(models.lenet(seed=0), -1), ValueError, SEED),
    case("finetune.five_way: a float seed", lambda: finetune.five_way(0.5), ValueError, SEED),
    case("finetune.pretrain: loaders, not the task's data", lambda: finetune.pretrain(0, loaders(), 1), TypeError,
         r"^data must be the task's FineTuneData \(from task_data\), got tuple$"),
    case("finetune.start_of_finetuning: a state dict, not a net",
         lambda: finetune.start_of_finetuning(models.lenet(seed=0).state_dict(), 0), TypeError,
         r"^pretrained must be a LeNet \(nn.Sequential\), got OrderedDict$"),
    case("finetune.feature_groups: a negative factor",
         lambda: finetune.feature_groups(models.lenet(seed=0), 0.1, -0.1), ValueError, "^feature_factor " + RATE),
    case("finetune.finetune: an unknown way", lambda: finetune.finetune("thawed", 0.1, 0, None, None, 1), ValueError,
         r"^way must be one of \('shared', 'discriminative', 'frozen features', 'from scratch'\), got 'thawed'$"),
]


def case_name(param) -> str:
    """``'data.TensorLoader'`` from ``'data.TensorLoader.reseed: float seed'``."""
    return ".".join(param.id.split(":")[0].split(".")[:2])


@pytest.mark.parametrize("call, error, match", CASES)
def test_bad_input(call, error, match, tmp_path):
    args = [tmp_path] if "tmp_path" in inspect.signature(call).parameters else []
    with pytest.raises(error, match=match):
        call(*args)


def test_the_table_is_large_and_each_row_distinct():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 40
    assert all(":" in i and i.split(".")[0] in MODULES for i in ids)


@pytest.mark.parametrize("module", list(MODULES))
def test_the_table_walks_every_public_name(module):
    public = set(MODULES[module].__all__)
    walked = {case_name(c).split(".")[1] for c in CASES if case_name(c).split(".")[0] == module}
    skipped = NOT_WALKED.get(module, {})
    assert set(skipped) <= public, "NOT_WALKED names a name that is not public"
    assert not walked & set(skipped), "a walked name is also listed as not walked"
    assert public - walked - set(skipped) == set(), "public names without a bad input"


# ---------------------------------------------------------------- widgets: bad slider values


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: widgets.explore_schedule("cosine", {"warmup_steps": 50}),
                 "not a valid cosine schedule: warmup_steps must be in [0, max_update=10), got 50",
                 id="explore_schedule: warmup past the end"),
    pytest.param(lambda: widgets.explore_schedule("one-cycle", {"total_steps": 2}),
                 "not a valid one-cycle schedule: pct_start * total_steps must be > 1",
                 id="explore_schedule: a one-cycle rise of no step"),
    pytest.param(lambda: widgets.explore_schedule("step", {"step_size": 0}),
                 "not a valid step schedule: step_size must be an int >= 1, got 0",
                 id="explore_schedule: step_size slider at 0"),
    pytest.param(lambda: widgets.explore_schedule("factor", {"stop_factor_lr": 0.9}),
                 "not a valid factor schedule: stop_factor_lr must be in [0, base_lr=0.6]",
                 id="explore_schedule: floor above the start"),
    pytest.param(lambda: widgets.explore_schedule("warmup", {}),
                 "not a valid warmup schedule: kind must be one of ['constant',",
                 id="explore_schedule: unknown kind"),
    pytest.param(lambda: widgets.explore_range_test(result(), 1.0, "valley"),
                 "smooth must be a number in [0, 1) (the weight of the past), got 1.0",
                 id="explore_range_test: smooth 1"),
    pytest.param(lambda: widgets.explore_range_test(result(), nan, "valley"),
                 "smooth must be a number in [0, 1) (the weight of the past), got nan",
                 id="explore_range_test: NaN smooth"),
    pytest.param(lambda: widgets.explore_range_test(result(), 0.5, "best"),
                 "rule must be one of ['valley', 'steepest', 'minimum/10', 'divergence/2'], got 'best'",
                 id="explore_range_test: unknown rule"),
])
def test_explore_functions_answer_bad_slider_values_with_a_message(call, message):
    fig, text = call()
    assert fig is None
    assert text.startswith(message)


def value_range(slider):
    """The values a slider can hold (a log slider's min and max are exponents)."""
    if isinstance(slider, w.FloatLogSlider):
        return slider.base ** slider.min, slider.base ** slider.max
    return slider.min, slider.max


def test_schedule_sliders_clamp_out_of_range_values_and_never_raise():
    box = widgets.schedule_explorer(12)
    kind, sliders, text, _ = box.children
    for name in widgets.SCHEDULE_KINDS:
        kind.value = name
        for slider in sliders.children:
            low, high = value_range(slider)
            for value, expected in ((1e9, high), (-1e9, low)):
                slider.value = value  # what a front end might send; the slider keeps to its range
                assert slider.value == pytest.approx(expected), (name, slider.description)
                assert text.value.startswith(("<code>lr(0) = ", "<b>not a valid ")), text.value


def test_playground_sliders_clamp_out_of_range_values():
    box = widgets.momentum_playground(num_steps=20)
    sliders = box.sliders
    for name, value, expected in [("alpha", 1e6, 10 ** 0.6), ("alpha", 0.0, 10 ** -2), ("beta", 1.5, 0.99),
                                  ("beta", -1.0, 0.0)]:
        sliders[name].value = value
        assert sliders[name].value == pytest.approx(expected), name
        assert "rate ρ = " in box.text.value
    # κ holds only its listed values: another is refused and the last one stays
    for value in (0.01, 1e9, 40.0):
        with pytest.raises(TraitError, match="Invalid selection"):
            sliders["kappa"].value = value
    assert sliders["kappa"].value == 50 and "κ = 50:" in box.text.value


def test_range_test_explorer_clamps_the_slider_and_refuses_an_unknown_rule():
    box = widgets.range_test_explorer(result())
    box.slider.value = 5.0
    assert box.slider.value == 0.99 and box.text.value.startswith("<code>valley at smooth = 0.99")
    with pytest.raises(TraitError, match="Invalid selection"):
        box.rule.value = "best"
    assert box.rule.value == "valley"


def test_an_out_of_range_dropdown_value_is_refused():
    kind = widgets.schedule_explorer(12).children[0]
    assert isinstance(kind, w.Dropdown)
    with pytest.raises(TraitError, match="Invalid selection"):
        kind.value = "polynomial"
