"""lrcourse: the package behind the book on learning rates, momentum and schedules.

Public names only; each lives in the module that owns its idea (see DESIGN.md).
"""
from .checkpoint import CheckpointError
from .config import profile, seed_everything, try_gpu
from .data import (DataCorruptError, DataNotFoundError, TensorLoader, get_fashion_mnist_labels,
                   load_fashion_mnist, select_classes, stratified_split)
from .lr_finder import (LRRangeResult, divergence_half, lr_range_test, minimum_over_ten, smooth_losses,
                        steepest_slope, sweep_rates, valley)
from .metrics import Accumulator, accuracy, evaluate, evaluate_accuracy, num_correct
from .models import lenet, mlp
from .momentum import (MomentumSGD, convergence_rate, momentum_step, optimal_gd, optimal_momentum,
                       quadratic_eigenvalues, run_quadratic)
from .plotting import (Animator, momentum_animation, plot_differences, plot_histories, plot_quadratic_runs,
                       plot_rate_curves, plot_schedules, plural, results_table, show_images)
from .schedules import (WSD, Constant, Cosine, CosineRestarts, Cyclic, Exponential, Factor, InverseSquareRoot,
                        LinearDecay, MultiFactor, OneCycle, Polynomial, ScheduleLR, SquareRoot, Step, Warmup,
                        lr_values)
from .training import History, TrainingInterrupted, fit, last_history

__version__ = "0.1.0"

__all__ = [
    "profile", "seed_everything", "try_gpu",
    "DataCorruptError", "DataNotFoundError", "TensorLoader", "get_fashion_mnist_labels",
    "load_fashion_mnist", "select_classes", "stratified_split",
    "LRRangeResult", "divergence_half", "lr_range_test", "minimum_over_ten", "smooth_losses",
    "steepest_slope", "sweep_rates", "valley",
    "Accumulator", "accuracy", "evaluate", "evaluate_accuracy", "num_correct",
    "lenet", "mlp",
    "MomentumSGD", "convergence_rate", "momentum_step", "optimal_gd", "optimal_momentum",
    "quadratic_eigenvalues", "run_quadratic",
    "Animator", "momentum_animation", "plot_differences", "plot_histories", "plot_quadratic_runs", "plural",
    "plot_rate_curves", "plot_schedules", "results_table", "show_images",
    "Constant", "Cosine", "CosineRestarts", "Cyclic", "Exponential", "Factor", "InverseSquareRoot",
    "LinearDecay", "MultiFactor", "OneCycle", "Polynomial", "ScheduleLR", "SquareRoot", "Step", "Warmup", "WSD",
    "lr_values",
    "History", "TrainingInterrupted", "fit", "last_history", "CheckpointError",
]
