"""ctypes binding of xent's C API (runtime/include/xent/xent.h).

Every struct mirrors its C declaration field by field, in the same order and with the same C types, so that ctypes
lays it out as the C compiler does (x86-64 / aarch64 System V: enums are int, CUdeviceptr is a 64-bit integer,
CUstream a pointer). The C API reports no struct sizes, so nothing can be checked at load time: keep this file in
step with xent.h by hand.
"""

from __future__ import annotations

import ctypes
import enum
import os
import sys
import weakref
from pathlib import Path

CUdeviceptr = ctypes.c_uint64
CUstream = ctypes.c_void_p


class Status(enum.IntEnum):
    """xent_status: why a call failed."""

    OK = 0
    ERROR_INVALID_ARGUMENT = 1
    ERROR_NO_DRIVER = 2
    ERROR_CUDA = 3
    ERROR_BAD_LABELS = 4
    ERROR_INTERNAL = 5
    ERROR_COLLECTIVE = 6


class DType(enum.IntEnum):
    """xent_dtype: element types of the tensors."""

    F32 = 0
    BF16 = 1
    F16 = 2
    I32 = 3
    I64 = 4


class Reduction(enum.IntEnum):
    """xent_reduction."""

    NONE = 0
    SUM = 1
    MEAN = 2


class Options(ctypes.Structure):
    """xent_options: what is fixed for the life of an op."""

    _fields_ = [
        ("dtype", ctypes.c_int),
        ("label_dtype", ctypes.c_int),
        ("vocab", ctypes.c_int64),
        ("vocab_offset", ctypes.c_int64),
        ("vocab_shard", ctypes.c_int64),
        ("rank", ctypes.c_int),
        ("world", ctypes.c_int),
        ("label_smoothing", ctypes.c_double),
        ("z_loss", ctypes.c_double),
        ("reduction", ctypes.c_int),
        ("has_mask", ctypes.c_int),
        ("has_weights", ctypes.c_int),
        ("entropy", ctypes.c_int),
        ("in_place", ctypes.c_int),
        ("check_labels", ctypes.c_int),
        ("tuning_threads", ctypes.c_int),
        ("tuning_block", ctypes.c_int64),
    ]


class Rows(ctypes.Structure):
    """xent_rows: a device tensor of rows, strides in elements."""

    _fields_ = [
        ("data", CUdeviceptr),
        ("stride0", ctypes.c_int64),
        ("stride1", ctypes.c_int64),
        ("dtype", ctypes.c_int),
    ]


class Args(ctypes.Structure):
    """xent_args: one call's tensors."""

    _fields_ = [
        ("d0", ctypes.c_int64),
        ("d1", ctypes.c_int64),
        ("logits", Rows),
        ("labels", Rows),
        ("mask", Rows),
        ("weights", CUdeviceptr),
        ("grad", Rows),
        ("grad_output", Rows),
        ("grad_scale", ctypes.c_float),
        ("ignore_index", ctypes.c_int64),
        ("num_label_tokens", ctypes.c_float),
        ("workspace", CUdeviceptr),
        ("workspace_bytes", ctypes.c_size_t),
    ]


class Outputs(ctypes.Structure):
    """struct xent_outputs: device addresses of the results inside the workspace."""

    _fields_ = [
        ("loss", CUdeviceptr),
        ("row_loss", CUdeviceptr),
        ("lse", CUdeviceptr),
        ("logprob", CUdeviceptr),
        ("entropy", CUdeviceptr),
        ("scale", CUdeviceptr),
        ("bad_labels", CUdeviceptr),
        ("partials", CUdeviceptr),
        ("partials_rank_bytes", ctypes.c_size_t),
    ]


_OP = ctypes.c_void_p  # xent_op*, opaque
_ARGS = ctypes.POINTER(Args)
_PROTOTYPES = {
    "xent_version": (ctypes.c_char_p, []),
    "xent_last_error": (ctypes.c_char_p, []),
    "xent_create": (ctypes.c_int, [ctypes.POINTER(Options), ctypes.POINTER(_OP)]),
    "xent_destroy": (None, [_OP]),
    "xent_workspace_bytes": (ctypes.c_int, [ctypes.c_int64, ctypes.c_int, ctypes.POINTER(ctypes.c_size_t)]),
    "xent_forward": (ctypes.c_int, [_OP, _ARGS, CUstream]),
    "xent_backward": (ctypes.c_int, [_OP, _ARGS, CUstream]),
    "xent_fused": (ctypes.c_int, [_OP, _ARGS, CUstream]),
    "xent_partials": (ctypes.c_int, [_OP, _ARGS, CUstream]),
    "xent_finish_forward": (ctypes.c_int, [_OP, _ARGS, CUstream]),
    "xent_outputs": (ctypes.c_int, [_OP, _ARGS, ctypes.POINTER(Outputs)]),
    "xent_bad_labels": (ctypes.c_int, [_OP, _ARGS, CUstream, ctypes.POINTER(ctypes.c_int64)]),
}

_REPOSITORY = Path(__file__).resolve().parents[3]  # runtime/python/xent/_capi.py
_REPOSITORY_CANDIDATES = ("build/runtime/libxent.so", "gpu-carry/libxent.so")
_library: ctypes.CDLL | None = None


class XentError(RuntimeError):
    """A failed xent call: its status and the library's message (xent_last_error)."""

    def __init__(self, status: int, message: str):
        try:
            self.status: Status | int = Status(status)
            name = self.status.name
        except ValueError:
            self.status, name = status, f"status {status}"
        super().__init__(f"{name}: {message}")


class LibraryNotFoundError(OSError):
    """libxent.so could not be loaded from any of the places load_library looks."""


def _open(path: str) -> ctypes.CDLL:
    """Opens one library and declares every prototype, so a missing symbol fails here and not at the first call."""
    lib = ctypes.CDLL(path)
    for name, (restype, argtypes) in _PROTOTYPES.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


def load_library(path: str | os.PathLike | None = None) -> ctypes.CDLL:
    """Loads libxent.so once per process and returns it.

    Looks at `path` if given, else $XENT_LIBRARY, else the repository's build/runtime/libxent.so and
    gpu-carry/libxent.so (when this package is used from the repository or installed editable), else the
    environment's lib/ (`cmake --install build --prefix "$VIRTUAL_ENV"`), else the system loader (LD_LIBRARY_PATH,
    the ld.so cache). An explicit path or $XENT_LIBRARY must load: falling back to another copy would silently
    measure or test the wrong build.
    """
    global _library
    explicit = path if path is not None else os.environ.get("XENT_LIBRARY")
    if _library is not None:
        if explicit is not None and Path(explicit).resolve() != Path(_library._name).resolve():
            raise LibraryNotFoundError(f"libxent already loaded from {_library._name}; cannot also load {explicit}")
        return _library
    if explicit is not None:
        candidates = [str(explicit)]
    else:
        places = [_REPOSITORY / c for c in _REPOSITORY_CANDIDATES] + [Path(sys.prefix) / "lib" / "libxent.so"]
        candidates = [str(p) for p in places if p.is_file()]
        candidates.append("libxent.so")
    errors = []
    for candidate in candidates:
        try:
            _library = _open(candidate)
            return _library
        except (OSError, AttributeError) as e:  # AttributeError: a library without some xent_* function
            errors.append(str(e) if candidate in str(e) else f"{candidate}: {e}")
    raise LibraryNotFoundError("cannot load libxent.so (" + "; ".join(errors) + "); set XENT_LIBRARY to its path")


def last_error() -> str:
    """The message of this thread's most recent failed call."""
    return load_library().xent_last_error().decode(errors="replace")


def check(status: int) -> None:
    """Raises XentError with xent_last_error() when `status` is not XENT_OK; call it on the calling thread, right
    after the call, because the message is thread-local and replaced by the next failing call."""
    if status != Status.OK:
        raise XentError(status, last_error())


def version() -> str:
    """xent's version, "major.minor.patch"."""
    return load_library().xent_version().decode()


def workspace_bytes(rows: int, world: int = 1) -> int:
    """The workspace size in bytes that calls on `rows` rows and `world` ranks need."""
    size = ctypes.c_size_t()
    check(load_library().xent_workspace_bytes(rows, world, ctypes.byref(size)))
    return size.value


class Op:
    """An xent_op handle, destroyed with this object. Pass it where the C functions take an op (ctypes reads
    _as_parameter_)."""

    def __init__(self, options: Options):
        lib = load_library()
        handle = _OP()
        check(lib.xent_create(ctypes.byref(options), ctypes.byref(handle)))
        self._as_parameter_ = handle
        weakref.finalize(self, lib.xent_destroy, handle)

    def outputs(self, args: Args) -> Outputs:
        """Where the results of calls with `args` lie in its workspace."""
        result = Outputs()
        check(load_library().xent_outputs(self, ctypes.byref(args), ctypes.byref(result)))
        return result
