"""xent's PyTorch face: a drop-in for TransformerEngine's `parallel_cross_entropy` and NeMo Automodel's
`TEParallelCrossEntropy`, with SPEC.md's semantics (docs/pytorch.md lists what differs from them).

This module imports without PyTorch, a GPU or libxent, so that `HAVE_TE_PARALLEL_CE` and `MISSING_TE_PARALLEL_CE_MSG`
can be read anywhere, as callers do with TransformerEngine's flags. The torch-facing names (`CrossEntropyFunction`,
`cross_entropy`, `parallel_cross_entropy`, `TEParallelCrossEntropy`) live in xent._torch_impl, which imports torch;
they are loaded on first access through the module's __getattr__. What is here needs no torch: the availability
checks, the configuration of a call and the argument checks, so they can be tested on a machine without a GPU.
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib
import importlib.util

from . import _capi as capi

MIN_COMPUTE_CAPABILITY = (8, 0)  # xent's kernels use sm_80 instructions (bf16, cp.async)
_TORCH_NAMES = ("CrossEntropyFunction", "cross_entropy", "parallel_cross_entropy", "TEParallelCrossEntropy")
REDUCTIONS = {"none": capi.Reduction.NONE, "sum": capi.Reduction.SUM, "mean": capi.Reduction.MEAN}


# ---------------------------------------------------------------------------------------------------------------------
# Availability


def _missing_torch() -> str | None:
    if importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed (no module named 'torch')"
    return None


def _missing_library() -> str | None:
    try:
        capi.load_library()
    except capi.LibraryNotFoundError as e:
        return f"libxent not found: {e}"
    return None


def _missing_driver() -> str | None:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError as e:
        return f"no CUDA driver (cannot load libcuda.so.1: {e})"
    return None


def _compute_capabilities() -> list[tuple[int, int]] | None:
    """Every NVIDIA GPU's compute capability through NVML, or None when NVML is unavailable. NVML, not the CUDA
    driver or torch.cuda: it creates no CUDA context, so reading the flags at import keeps fork()-based workers
    (DataLoader) able to use CUDA."""
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
        if nvml.nvmlInit_v2() != 0:
            return None
        try:
            count = ctypes.c_uint()
            if nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0:
                return None
            found = []
            for index in range(count.value):
                device, major, minor = ctypes.c_void_p(), ctypes.c_int(), ctypes.c_int()
                if (nvml.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(device)) == 0 and
                        nvml.nvmlDeviceGetCudaComputeCapability(device, ctypes.byref(major), ctypes.byref(minor)) == 0):
                    found.append((major.value, minor.value))
            return found
        finally:
            nvml.nvmlShutdown()
    except (OSError, AttributeError):
        return None


def _missing_architecture() -> str | None:
    capabilities = _compute_capabilities()
    if capabilities is None:  # unknown without NVML: the first call reports an unsupported GPU itself
        return None
    if not capabilities:
        return "no NVIDIA GPU found (NVML lists none)"
    if max(capabilities) < MIN_COMPUTE_CAPABILITY:
        found = ", ".join(f"sm_{major}{minor}" for major, minor in capabilities)
        return f"GPU architecture older than sm_80 (found {found}); xent needs Ampere (sm_80) or newer"
    return None


def _availability() -> tuple[bool, str]:
    """(available, why not): every missing piece, in the order a user would fix them, joined with "; "."""
    missing = [m for m in (_missing_torch(), _missing_library(), _missing_driver()) if m]
    if not missing:
        missing = [m for m in (_missing_architecture(),) if m]
    return not missing, "; ".join(missing)


HAVE_TE_PARALLEL_CE, MISSING_TE_PARALLEL_CE_MSG = _availability()


def __getattr__(name: str):
    """Loads the torch-facing names on first use, so that importing this module never needs torch."""
    if name in _TORCH_NAMES:
        if _missing_torch():
            raise ImportError(f"xent.torch.{name} needs PyTorch: {MISSING_TE_PARALLEL_CE_MSG}")
        return getattr(importlib.import_module("xent._torch_impl"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------------------------------------------------
# Configuration and argument checks (no torch)


@dataclasses.dataclass(frozen=True)
class Config:
    """The options of one loss call that are not tensors. Checked here, in Python, so that a bad value is reported
    with the Python argument's name before any tensor work."""

    reduction: str = "mean"
    label_smoothing: float = 0.0
    z_loss: float = 0.0
    ignore_index: int = -100
    num_label_tokens: float | None = None  # the `sum` normalizer, a host number (a tensor one is applied by torch)
    fused: bool = False
    inplace_backward: bool = False

    def __post_init__(self):
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(map(repr, REDUCTIONS))}, got {self.reduction!r}")
        if not 0.0 <= self.label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {self.label_smoothing}")
        if not self.z_loss >= 0.0:
            raise ValueError(f"z_loss must be >= 0, got {self.z_loss}")
        if self.num_label_tokens is not None and self.reduction != "sum":
            raise ValueError(f"num_label_tokens normalizes reduction 'sum', not {self.reduction!r}")
        if self.num_label_tokens is not None and self.num_label_tokens < 0:
            raise ValueError(f"num_label_tokens must be >= 0, got {self.num_label_tokens}")
        if self.fused and self.inplace_backward:
            raise ValueError("fused=True computes the gradient during forward into its own buffer; "
                             "inplace_backward=True is for the forward-then-backward path")


@dataclasses.dataclass(frozen=True)
class OpKey:
    """Everything an xent op is specialized on, plus the device it runs on (one op per device, as xent.h asks)."""

    device: int
    dtype: capi.DType
    label_dtype: capi.DType
    vocab_shard: int
    rank: int
    world: int
    label_smoothing: float
    z_loss: float
    reduction: capi.Reduction
    has_mask: bool
    has_weights: bool
    in_place: bool

    def options(self) -> capi.Options:
        """Equal shards: rank r holds columns [r * V_r, (r + 1) * V_r) of V = world * V_r (see shard_layout)."""
        return capi.Options(
            dtype=self.dtype, label_dtype=self.label_dtype, vocab=self.vocab_shard * self.world,
            vocab_offset=self.rank * self.vocab_shard, vocab_shard=self.vocab_shard, rank=self.rank,
            world=self.world, label_smoothing=self.label_smoothing, z_loss=self.z_loss, reduction=self.reduction,
            has_mask=int(self.has_mask), has_weights=int(self.has_weights), in_place=int(self.in_place))


_ops: dict[OpKey, capi.Op] = {}


def cached_op(key: OpKey) -> capi.Op:
    """The op for `key`, created once per process. xent_create checks the options without a GPU; the kernels are
    compiled or loaded at the op's first launch, so run one step before capturing a CUDA graph. Ops are destroyed
    at interpreter exit (capi.Op's finalizer)."""
    op = _ops.get(key)
    if op is None:
        op = _ops[key] = capi.Op(key.options())
    return op


def leading_rows(shape: tuple[int, ...], strides: tuple[int, ...], name: str) -> tuple[int, int, int, int]:
    """(d0, d1, stride0, stride1) of xent_rows for a tensor's leading shape [N] or [B, S] and its element strides.
    [N] becomes [1, N]; stride0 is then never stepped, and is given the span of the rows so no check sees overlap."""
    if len(shape) == 1:
        return 1, shape[0], shape[0] * strides[0], strides[0]
    if len(shape) == 2:
        return shape[0], shape[1], strides[0], strides[1]
    raise ValueError(f"{name}: expected a leading shape [N] or [B, S] (logits [N, V] or [B, S, V]), got "
                     f"{list(shape)}")


def check_logits_layout(shape: tuple[int, ...], strides: tuple[int, ...]) -> None:
    """xent reads each row as contiguous columns; a transposed vocab dimension would need a copy, which is the
    caller's decision to make, not a silent one here."""
    if len(shape) not in (2, 3):
        raise ValueError(f"logits: expected [N, V] or [B, S, V], got shape {list(shape)}")
    if shape[-1] < 1:
        raise ValueError("logits: the vocab dimension is empty")
    if shape[-1] > 1 and strides[-1] != 1:
        raise ValueError(f"logits: the last (vocab) dimension must be contiguous (stride 1), got strides "
                         f"{list(strides)}; pass logits.contiguous() if the copy is acceptable")


def check_same_leading(logits_shape: tuple[int, ...], other_shape: tuple[int, ...], name: str) -> None:
    if tuple(other_shape) != tuple(logits_shape[:-1]):
        raise ValueError(f"{name}: shape {list(other_shape)} does not match the logits' leading shape "
                         f"{list(logits_shape[:-1])}")
