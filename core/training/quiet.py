"""Silencing optional packages' noise (transformers, peft, bitsandbytes) before a model is built or loaded.

Its own module because both the model loader (core.training.model) and the demo model's builder
(core.training.demo) call it, and the loader imports the builder.
"""

from __future__ import annotations

import logging
import os
import warnings

log = logging.getLogger("swarmdeck.training")

_kernels_explained = False


def quiet_optional_warnings() -> None:
    """Silence noise from optional packages, explaining it once in the log.

    transformers mentions the optional `kernels` package (hub-downloaded CUDA kernels). We do
    not install it: it fetches code from the model hub at run time, which a node must not do
    (and cannot, offline). Nothing here needs it; the plain PyTorch layers are used instead.
    """
    global _kernels_explained
    os.environ.setdefault("USE_HUB_KERNELS", "0")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", message=r".*`?kernels`? .*")
    warnings.filterwarnings("ignore", message=r".*rollout_func.*experimental.*")
    # peft still calls a transformers 5 deprecated alias; harmless, and not the user's to fix.
    warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*deprecated.*")
    # bitsandbytes logs "inputs will be cast ... to float16" on EVERY int8 matmul with fp32
    # activations (CPU); it is expected there and would flood the node's log.
    logging.getLogger("bitsandbytes.autograd._functions").setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as tlog

        tlog.disable_progress_bar()
        tlog.set_verbosity_error()
    except Exception:  # transformers missing is reported by the loader itself
        pass
    if not _kernels_explained:
        _kernels_explained = True
        log.debug("optional package `kernels` is not installed on purpose (it downloads code from the hub); "
                  "standard PyTorch layers are used")
