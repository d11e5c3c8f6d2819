"""The torch-facing half of xent.torch (import that module, not this one): the autograd Function over xent's C API,
TransformerEngine's `parallel_cross_entropy` and Automodel's `TEParallelCrossEntropy`.

Every call only enqueues work on torch's current stream of the logits' device: no host synchronization, no memory
outside PyTorch's caching allocator (the workspace, the gradient and the loss are torch tensors) but the op's 256 bytes
of ticket counters, so forward and backward can be captured in a CUDA graph once a first step has created the op and
loaded its kernels.
"""

from __future__ import annotations

import ctypes
import sys

import torch

from . import _capi as capi
from .torch import Config, OpKey, cached_op, check_logits_layout, check_same_leading, leading_rows, REDUCTIONS

_FLOAT_DTYPES = {torch.float32: capi.DType.F32, torch.bfloat16: capi.DType.BF16, torch.float16: capi.DType.F16}
_LABEL_DTYPES = {torch.int32: capi.DType.I32, torch.int64: capi.DType.I64}
_NO_ROWS = capi.Rows(0, 0, 0, capi.DType.I32)


def _rows(tensor: torch.Tensor | None, leading: torch.Size, dtype: capi.DType, name: str) -> capi.Rows:
    """An xent_rows over a tensor whose first dimensions are the `leading` shape, with its own strides (no copy)."""
    if tensor is None:
        return _NO_ROWS
    _, _, stride0, stride1 = leading_rows(tuple(leading), tuple(tensor.stride()[:len(leading)]), name)
    return capi.Rows(tensor.data_ptr(), stride0, stride1, dtype)


def _label_dtype(target: torch.Tensor) -> capi.DType:
    if target.dtype not in _LABEL_DTYPES:
        raise TypeError(f"target: labels must be int32 or int64, got {target.dtype}")
    return _LABEL_DTYPES[target.dtype]


def _float_dtype(logits: torch.Tensor) -> capi.DType:
    if logits.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"logits: must be float32, bfloat16 or float16, got {logits.dtype}")
    return _FLOAT_DTYPES[logits.dtype]


def _workspace_view(workspace: torch.Tensor, address: int, nbytes: int) -> torch.Tensor:
    """The bytes [address, address + nbytes) of the workspace as a uint8 tensor view (torch indexing, no copy)."""
    offset = address - workspace.data_ptr()
    return workspace[offset:offset + nbytes]


def _float_view(workspace: torch.Tensor, address: int, count: int) -> torch.Tensor:
    return _workspace_view(workspace, address, 4 * count).view(torch.float32)


def _all_gather(output: torch.Tensor, shard: torch.Tensor, group) -> None:
    """The one collective of a sharded forward. A real ProcessGroup goes through torch.distributed; any other object
    with all_gather_into_tensor(output, input) is called directly, which is how the tests simulate ranks on one GPU."""
    if isinstance(group, torch.distributed.ProcessGroup):
        torch.distributed.all_gather_into_tensor(output, shard, group=group)
    else:
        group.all_gather_into_tensor(output, shard)


def _rank_world(group) -> tuple[int, int]:
    return (0, 1) if group is None else (group.rank(), group.size())


class _Call:
    """One loss call's xent state: the op, the argument struct over the tensors' addresses, the workspace and the
    stream. The struct holds raw addresses, so the tensors it names are kept alive by the autograd context."""

    def __init__(self, logits, target, mask, weights, config: Config, group):
        check_logits_layout(tuple(logits.shape), tuple(logits.stride()))
        check_same_leading(tuple(logits.shape), tuple(target.shape), "target")
        leading = logits.shape[:-1]
        rank, world = _rank_world(group)
        self.key = OpKey(device=logits.device.index, dtype=_float_dtype(logits), label_dtype=_label_dtype(target),
                         vocab_shard=logits.shape[-1], rank=rank, world=world,
                         label_smoothing=float(config.label_smoothing), z_loss=float(config.z_loss),
                         reduction=REDUCTIONS[config.reduction], has_mask=mask is not None,
                         has_weights=weights is not None, in_place=config.inplace_backward)
        self.op, self.group, self.leading = cached_op(self.key), group, leading
        d0, d1, _, _ = leading_rows(tuple(leading), tuple(logits.stride()[:-1]), "logits")
        self.workspace = torch.empty(capi.workspace_bytes(d0 * d1, world), dtype=torch.uint8, device=logits.device)
        self.args = capi.Args(
            d0=d0, d1=d1, logits=_rows(logits, leading, self.key.dtype, "logits"),
            labels=_rows(target, leading, self.key.label_dtype, "target"),
            mask=_rows(mask, leading, capi.DType.I32, "mask"), weights=0 if weights is None else weights.data_ptr(),
            grad=_NO_ROWS, grad_output=capi.Rows(0, 0, 0, capi.DType.F32), grad_scale=1.0,
            ignore_index=config.ignore_index,
            num_label_tokens=-1.0 if config.num_label_tokens is None else float(config.num_label_tokens),
            workspace=self.workspace.data_ptr(), workspace_bytes=self.workspace.numel())
        self.outputs = self.op.outputs(self.args)
        self.device = logits.device

    def launch(self, function) -> None:
        """Enqueues one xent call on torch's current stream of the logits' device, with that device current (xent
        compiles for the current context's device)."""
        with torch.cuda.device(self.device):
            stream = ctypes.c_void_p(torch.cuda.current_stream(self.device).cuda_stream)
            capi.check(function(self.op, ctypes.byref(self.args), stream))

    def forward(self) -> None:
        """Loss and row statistics: one call on one rank; partials, the all-gather, then finish_forward when the
        vocabulary is sharded."""
        lib = capi.load_library()
        if self.key.world == 1:
            self.launch(lib.xent_forward)
            return
        self.launch(lib.xent_partials)
        size = self.outputs.partials_rank_bytes
        everyone = _workspace_view(self.workspace, self.outputs.partials, size * self.key.world)
        # A copy of this rank's slice as the collective's input: in-place all-gathers are not safe on every backend.
        mine = everyone[self.key.rank * size:(self.key.rank + 1) * size].clone()
        _all_gather(everyone, mine, self.group)
        self.launch(lib.xent_finish_forward)

    def forward_with_gradient(self, grad: torch.Tensor) -> None:
        """The fused mode: loss and the gradient for an upstream 1 into `grad`, during forward. One pass over the
        logits on one rank (xent_fused); sharded, the exchange then a backward with a device scalar 1 (xent_fused is
        one-rank only)."""
        if self.key.world > 1:
            self.forward()
            self.backward(torch.ones((), dtype=torch.float32, device=self.device), grad)
            return
        self.args.grad = _rows(grad, self.leading, self.key.dtype, "grad")
        self.launch(capi.load_library().xent_fused)

    def backward(self, grad_output: torch.Tensor, grad: torch.Tensor | None) -> None:
        """The gradient times grad_output (a device fp32 scalar or per-row tensor, read by the kernel: never compared
        with 1 on the host) into `grad`, or over the logits when the op is in place."""
        if grad_output.dim() == 0:
            self.args.grad_output = capi.Rows(grad_output.data_ptr(), 0, 0, capi.DType.F32)
        else:
            self.args.grad_output = _rows(grad_output, self.leading, capi.DType.F32, "grad_output")
        self.args.grad = _NO_ROWS if grad is None else _rows(grad, self.leading, self.key.dtype, "grad")
        self.launch(capi.load_library().xent_backward)

    def loss(self) -> torch.Tensor:
        """The loss as a fresh tensor: the reduced fp32 scalar, or the per-row losses in the leading shape. Copied on
        the device out of the workspace (never .item()), so the caller may keep it after the workspace is reused."""
        if self.key.reduction == capi.Reduction.NONE:
            rows = int(self.args.d0 * self.args.d1)
            return _float_view(self.workspace, self.outputs.row_loss, rows).view(self.leading).clone()
        return _float_view(self.workspace, self.outputs.loss, 1).view(()).clone()


class CrossEntropyFunction(torch.autograd.Function):
    """Softmax cross-entropy of `logits` ([N, V_r] or [B, S, V_r], last dimension contiguous, any leading strides)
    against `target` (int32/int64, the leading shape, any strides), per Config and SPEC.md.

    `mask` (int32, leading shape) and `weights` (fp32, contiguous, d0 * d1 in row order) are optional; `group` is
    None for one GPU, else the tensor-parallel group (torch.distributed.ProcessGroup, or a stand-in with rank(),
    size() and all_gather_into_tensor(output, input)); `needs_grad` says whether to keep what backward needs (it is
    computed by the caller because grad mode is off inside forward). Only the logits get a gradient."""

    @staticmethod
    def forward(ctx, logits, target, mask, weights, config: Config, group, needs_grad: bool):
        call = _Call(logits, target, mask, weights, config, group)
        ctx.fused = config.fused and needs_grad
        if ctx.fused:
            grad = torch.empty(logits.shape, dtype=logits.dtype, device=logits.device)
            call.forward_with_gradient(grad)
            ctx.save_for_backward(grad)
        else:
            call.forward()
            if needs_grad:
                ctx.save_for_backward(logits, target, mask, weights, call.workspace)
        ctx.call = call
        return call.loss()

    @staticmethod
    def backward(ctx, grad_output):
        call, saved = ctx.call, ctx.saved_tensors  # unpacking checks that no saved tensor was modified in place
        grad_output = grad_output.to(torch.float32)
        if ctx.fused:
            upstream = grad_output if grad_output.dim() == 0 else grad_output.unsqueeze(-1)
            # In place: a second backward through this graph fails the saved-tensor version check instead of
            # scaling twice.
            grad = saved[0].mul_(upstream)
        elif call.key.in_place:
            call.backward(grad_output, None)
            grad = saved[0].detach()  # the logits' memory, now holding the gradient
        else:
            grad = torch.empty(saved[0].shape, dtype=saved[0].dtype, device=saved[0].device)
            call.backward(grad_output, grad)
        return grad, None, None, None, None, None, None


def _is_dtensor(tensor) -> bool:
    """Whether `tensor` is a DTensor, without importing torch.distributed.tensor: a DTensor can only exist once its
    module was imported by whoever made it."""
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(tensor, module.DTensor)


def _vocab_group(logits):
    """The group over which a DTensor's last (vocab) dimension is sharded, or None when it is not sharded there."""
    for mesh_dim, placement in enumerate(logits.placements):
        if placement.is_shard() and placement.dim % logits.dim() == logits.dim() - 1:
            return logits.device_mesh.get_group(mesh_dim)
    return None


def _mask_int32(mask: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    """The mask as xent reads it, int32 nonzero = keep, on the labels' device; O(N), the caller's tensor untouched."""
    if mask is None:
        return None
    mask = mask.to(device)
    if mask.dtype == torch.int32:
        return mask
    return mask.to(torch.int32) if mask.dtype == torch.bool else mask.ne(0).to(torch.int32)


def _row_weights(weights: torch.Tensor | None, leading: torch.Size, device: torch.device) -> torch.Tensor | None:
    """Per-row fp32 weights, broadcast to the leading shape and contiguous (xent reads them in row order)."""
    if weights is None:
        return None
    return weights.to(device=device, dtype=torch.float32).expand(leading).contiguous()


def cross_entropy(logits, target, *, reduction="mean", label_smoothing=0.0, z_loss=0.0, ignore_index=-100,
                  mask=None, loss_weights=None, num_label_tokens=None, group=None, fused=False,
                  inplace_backward=False):
    """The general entry: F.cross_entropy's semantics on [N, V] or [B, S, V] logits (see SPEC.md), plus a mask, per-
    row weights, z-loss, a `sum` normalizer and a vocab-sharded tensor-parallel `group`.

    num_label_tokens: a host number is applied by xent; a tensor stays on the device (no .item()) and divides the
    `sum` with torch ops, 0 giving a 0 loss and a 0 gradient. fused=True computes the gradient during forward (see
    docs/pytorch.md for when that pays); inplace_backward=True writes it over the logits' memory in backward."""
    on_device = isinstance(num_label_tokens, torch.Tensor)
    if on_device and reduction != "sum":
        raise ValueError(f"num_label_tokens normalizes reduction 'sum', not {reduction!r}")
    config = Config(reduction=reduction, label_smoothing=label_smoothing, z_loss=z_loss, ignore_index=ignore_index,
                    num_label_tokens=None if on_device or num_label_tokens is None else float(num_label_tokens),
                    fused=fused, inplace_backward=inplace_backward)
    needs_grad = torch.is_grad_enabled() and logits.requires_grad
    loss = CrossEntropyFunction.apply(logits, target, _mask_int32(mask, target.device),
                                      _row_weights(loss_weights, logits.shape[:-1], logits.device), config, group,
                                      needs_grad)
    if not on_device:
        return loss
    count = num_label_tokens.to(device=loss.device, dtype=torch.float32)
    return loss * torch.where(count == 0, 0.0, 1.0 / count)  # 1/0 = inf is never selected: no NaN in the gradient


def parallel_cross_entropy(inp, target, label_smoothing=0.0, reduce_loss=False, dist_process_group=None,
                           ignore_idx=-100, is_cg_capturable=False, *, fused=False):
    """TransformerEngine's parallel_cross_entropy: per-token losses in the leading shape (reduce_loss=False) or their
    mean over the tokens whose label is not ignore_idx (reduce_loss=True). With dist_process_group, `inp` is this
    rank's equal shard [.., V / world] of the vocabulary, rank r holding columns [r * V_r, (r + 1) * V_r).
    is_cg_capturable is accepted for compatibility: every call is capturable."""
    del is_cg_capturable
    return cross_entropy(inp, target, reduction="mean" if reduce_loss else "none", label_smoothing=label_smoothing,
                         ignore_index=ignore_idx, group=dist_process_group, fused=fused)


class TEParallelCrossEntropy(torch.nn.Module):
    """NeMo Automodel's TEParallelCrossEntropy, called as (logits, labels, mask=None, num_label_tokens=None,
    loss_weights=None). Unlike Automodel it never writes to `labels`, applies per-token loss_weights and per-token
    upstream gradients exactly, and never synchronizes with the host. reduction "mean" is PyTorch's (over valid
    tokens); num_label_tokens divides the "sum" and, as in Automodel, is ignored by "none" and "mean"."""

    def __init__(self, ignore_index=-100, reduction="sum", tp_group=None, label_smoothing=0.0, *, fused=False):
        super().__init__()
        Config(reduction=reduction, label_smoothing=label_smoothing, fused=fused)  # fail at construction
        self.ignore_index, self.reduction, self.tp_group = ignore_index, reduction, tp_group
        self.label_smoothing, self.fused = label_smoothing, fused

    def forward(self, logits, labels, mask=None, num_label_tokens=None, loss_weights=None):
        group = self.tp_group
        if _is_dtensor(logits):
            group = group if group is not None else _vocab_group(logits)
            logits = logits.to_local()
        if _is_dtensor(labels):
            labels = labels.to_local()
        return cross_entropy(logits, labels, reduction=self.reduction, label_smoothing=self.label_smoothing,
                             ignore_index=self.ignore_index, mask=mask, loss_weights=loss_weights,
                             num_label_tokens=num_label_tokens if self.reduction == "sum" else None, group=group,
                             fused=self.fused)
