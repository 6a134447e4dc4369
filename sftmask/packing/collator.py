"""`PackedCollator`: sftmask's packed rows batched for the Hugging Face ``Trainer`` (padding-free)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from sftmask.packing.packer import IGNORE_INDEX
from sftmask.ragged import offsets_of


class PackedCollator:
    """Collate sftmask packed rows for the Hugging Face `Trainer` (padding-free).

    The rows of a batch are concatenated into one sequence of shape ``(1, total)``:
    ``input_ids``, ``labels`` and ``position_ids`` as written (positions restart at 0 for each
    example), no ``attention_mask``, and ``use_cache=False``, so transformers' sdpa/eager masks and
    flash-attention varlen kernels keep the examples apart. With `return_flash_attn_kwargs` (default)
    it also returns ``cu_seq_lens_q/k`` and ``max_length_q/k`` (sequence boundaries, as TRL's
    padding-free collator does), which spares flash attention deriving them. Labels at every
    sequence start are -100.

    ``use_cache=False`` is what keeps the examples apart in sdpa and eager attention: transformers
    (`masking_utils._preprocess_mask_arguments`) looks for the restarts in ``position_ids`` only
    when the model runs without a cache, and a causal LM's config has ``use_cache=True``, which a
    plain ``model(**batch)`` loop, evaluation outside a ``Trainer`` and
    ``TrainingArguments(use_cache=True)`` all fall back on. The ``Trainer`` passes the batch to the
    model as it is, so the flag reaches the forward in training and evaluation alike.

    It needs only ``input_ids``, ``labels`` and ``position_ids`` (``seq_lengths`` when
    ``position_ids`` is missing), so it works with ``remove_unused_columns=True``, which drops
    ``seq_lengths``. torch is imported when the collator is called, not with sftmask.

    Example::

        from sftmask.packing import PackedCollator
        Trainer(model=model, args=args, train_dataset=ds, data_collator=PackedCollator())
        loss = model(**PackedCollator()(rows)).loss  # a loop of your own: pass the batch whole
    """

    def __init__(self, *, return_flash_attn_kwargs: bool = True) -> None:
        self.return_flash_attn_kwargs = return_flash_attn_kwargs

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        ids = np.concatenate([np.asarray(f["input_ids"], dtype=np.int64) for f in features])
        labels = np.concatenate([np.asarray(f["labels"], dtype=np.int64) for f in features])
        positions = np.concatenate([_positions(f) for f in features])
        starts = np.flatnonzero(positions == 0)
        labels[starts] = IGNORE_INDEX
        batch: dict[str, Any] = {
            "input_ids": torch.from_numpy(ids)[None],
            "labels": torch.from_numpy(labels)[None],
            "position_ids": torch.from_numpy(positions)[None],
            "use_cache": False,
        }
        if self.return_flash_attn_kwargs:
            cu = torch.from_numpy(np.append(starts, len(ids)).astype(np.int32))
            batch["cu_seq_lens_q"] = batch["cu_seq_lens_k"] = cu
            batch["max_length_q"] = batch["max_length_k"] = int(np.diff(np.append(starts, len(ids))).max())
        return batch


def _positions(feature: dict[str, Any]) -> npt.NDArray[np.int64]:
    if "position_ids" in feature:
        return np.asarray(feature["position_ids"], dtype=np.int64)
    lengths = np.asarray(feature["seq_lengths"], dtype=np.int64)
    return np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(offsets_of(lengths)[:-1], lengths)
