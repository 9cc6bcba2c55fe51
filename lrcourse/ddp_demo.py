"""Chapter 11's data-parallel script: the same run on one process, or on several under ``torchrun``.

``torchrun --standalone --nproc_per_node=2 -m lrcourse.ddp_demo --out w.pt`` (or, from a notebook,
``lrcourse.distributed.launch("lrcourse.ddp_demo", "--out", "w.pt", module=True)``): every rank
joins the group, builds the same MLP from seed 0 and calls :func:`train`, which is plain ``fit``;
``fit`` sees the process group and trains data-parallel. Rank 0 saves the weights to ``--out``
and reports the History. In a notebook, ``train()`` without torchrun is the one-process run.
"""
from __future__ import annotations

import argparse

import torch

from . import distributed
from .checks import check_int
from .data import load_fashion_mnist
from .models import mlp
from .schedules import Cosine, Warmup
from .training import fit

__all__ = ["train", "main", "BATCH_SIZE", "LIMIT", "VALID", "NUM_EPOCHS", "LR"]

BATCH_SIZE, LIMIT, VALID, NUM_EPOCHS, LR = 256, 4096, 1000, 3, 0.2  # the global batch: 16 steps per epoch


def train(device="cpu", *, num_epochs: int = NUM_EPOCHS, batch_size: int = BATCH_SIZE):
    """The MLP on 4096 Fashion-MNIST images at global batch ``batch_size``, per step: warmup over the
    first epoch's steps to 0.2, then cosine to 0.02. Returns ``(net, history)``."""
    check_int("num_epochs", num_epochs, minimum=1)
    train_iter, valid_iter, _ = load_fashion_mnist(batch_size, valid=VALID, limit=LIMIT, device=device)
    steps = len(train_iter)  # per epoch, counted in global batches: the same on every rank
    net = mlp(seed=0)
    history = fit(net, train_iter, None, valid_iter=valid_iter, num_epochs=num_epochs, interval="step",
                  scheduler=Warmup(Cosine(LR, LR / 10, max_update=num_epochs * steps - steps), steps),
                  device=device, seed=0, animate=False, progress=False)
    return net, history


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lrcourse.ddp_demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="where rank 0 saves the trained weights")
    parser.add_argument("--backend", choices=("gloo", "nccl"), default=None, help="default: nccl with a GPU per rank")
    args = parser.parse_args(argv)
    device = distributed.init(args.backend)
    net, history = train(device)
    print(f"rank {distributed.rank()} of {distributed.world_size()} on {device}: {history.summary()}", flush=True)
    if distributed.rank() == 0:
        torch.save({k: v.cpu() for k, v in net.state_dict().items()}, args.out)
    distributed.report(history)
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
