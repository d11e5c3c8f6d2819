"""Checks that need neither PyTorch nor a GPU: the availability flags and their message, the argument checks done in
Python, and the op options going through the C API (xent_create needs no GPU). Runs anywhere libxent is built."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]


def flags_in_subprocess(**environment) -> tuple[str, str]:
    """HAVE_TE_PARALLEL_CE and MISSING_TE_PARALLEL_CE_MSG as a fresh interpreter computes them under `environment`
    (the library is loaded once per process, so each case needs its own)."""
    code = "import xent.torch as t; print(t.HAVE_TE_PARALLEL_CE); print(t.MISSING_TE_PARALLEL_CE_MSG)"
    env = {**os.environ, "PYTHONPATH": str(PACKAGE), **environment}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    have, message = out.split("\n", 1)
    return have, message.strip()


def test_flags_import_without_raising_and_name_a_missing_library():
    have, message = flags_in_subprocess(XENT_LIBRARY="/nonexistent/libxent.so")
    assert have == "False"
    assert "libxent not found" in message and "/nonexistent/libxent.so" in message


def test_flags_name_missing_torch_or_driver_when_unavailable():
    have, message = flags_in_subprocess()
    if have == "True":
        assert message == ""
        return
    import importlib.util
    if importlib.util.find_spec("torch") is None:
        assert "PyTorch is not installed" in message
    if not any(Path(p, "libcuda.so.1").exists() for p in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib")):
        assert "no CUDA driver" in message


def test_torch_names_raise_import_error_without_torch():
    import importlib.util
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed")
    import xent.torch
    with pytest.raises(ImportError, match="needs PyTorch"):
        xent.torch.parallel_cross_entropy  # noqa: B018


@pytest.mark.parametrize("kwargs, match", [
    ({"reduction": "avg"}, "reduction must be one of"),
    ({"label_smoothing": 1.5}, r"label_smoothing must be in \[0, 1\]"),
    ({"label_smoothing": -0.1}, r"label_smoothing must be in \[0, 1\]"),
    ({"z_loss": -1.0}, "z_loss must be >= 0"),
    ({"reduction": "mean", "num_label_tokens": 4.0}, "normalizes reduction 'sum'"),
    ({"reduction": "sum", "num_label_tokens": -1.0}, "num_label_tokens must be >= 0"),
    ({"fused": True, "inplace_backward": True}, "inplace_backward"),
])
def test_config_rejects_bad_options(kwargs, match):
    from xent.torch import Config
    with pytest.raises(ValueError, match=match):
        Config(**kwargs)


def test_config_accepts_sum_with_zero_tokens():
    from xent.torch import Config
    assert Config(reduction="sum", num_label_tokens=0.0).num_label_tokens == 0.0


def test_logits_layout_checks():
    from xent.torch import check_logits_layout, check_same_leading
    check_logits_layout((2, 5, 7), (42, 7, 1))
    check_logits_layout((2, 4, 7), (42, 7, 1))  # logits[:, :-1] of a [2, 6, 7] tensor
    check_logits_layout((3, 1), (5, 5))  # V = 1: the column stride is never used
    with pytest.raises(ValueError, match="must be contiguous"):
        check_logits_layout((7, 3), (1, 7))  # a transposed [V, N] tensor
    with pytest.raises(ValueError, match=r"expected \[N, V\] or \[B, S, V\]"):
        check_logits_layout((2, 2, 2, 2), (8, 4, 2, 1))
    with pytest.raises(ValueError, match="vocab dimension is empty"):
        check_logits_layout((3, 0), (0, 1))
    check_same_leading((2, 5, 7), (2, 5), "target")
    with pytest.raises(ValueError, match=r"target: shape \[10\] does not match"):
        check_same_leading((2, 5, 7), (10,), "target")


def test_leading_rows_keeps_strides():
    from xent.torch import leading_rows
    assert leading_rows((6,), (3,), "x") == (1, 6, 18, 3)
    assert leading_rows((2, 4), (6, 1), "x") == (2, 4, 6, 1)  # labels[:, 1:] of a [2, 6] tensor
    assert leading_rows((2, 4), (0, 0), "x") == (2, 4, 0, 0)  # an expanded per-token gradient
    with pytest.raises(ValueError, match="leading shape"):
        leading_rows((1, 2, 3), (6, 3, 1), "x")


def test_op_cache_creates_once_and_the_c_api_checks_options():
    from xent import _capi as capi
    from xent.torch import OpKey, cached_op

    def key(**changes):
        fields = dict(device=0, dtype=capi.DType.BF16, label_dtype=capi.DType.I64, vocab_shard=128, rank=1, world=4,
                      label_smoothing=0.1, z_loss=0.0, reduction=capi.Reduction.MEAN, has_mask=True,
                      has_weights=False, in_place=False)
        return OpKey(**{**fields, **changes})

    options = key().options()
    layout = (options.vocab, options.vocab_offset, options.vocab_shard, options.rank, options.world)
    assert layout == (512, 128, 128, 1, 4)
    assert cached_op(key()) is cached_op(key())
    assert cached_op(key()) is not cached_op(key(device=1))
    with pytest.raises(capi.XentError, match="rank"):
        cached_op(key(rank=4))

