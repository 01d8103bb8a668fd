"""A command for ``powertrain measure -- torchrun ...``: two gloo ranks train in step; rank 0 tells a
rising accuracy, and both would train on for minutes. Each rank writes its pid to ``argv[1]/pid-N``."""

import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

import powertrain

dist.init_process_group("gloo")
rank = dist.get_rank()
Path(sys.argv[1], f"pid-{rank}").write_text(str(os.getpid()))
for step in range(1, 1000):
    value = torch.ones(1)
    dist.all_reduce(value)  # the ranks in step, as DDP keeps them
    time.sleep(0.1)
    if rank == 0 and step % 5 == 0:
        powertrain.tell(step=step, val_acc=min(1.0, step / 20))
