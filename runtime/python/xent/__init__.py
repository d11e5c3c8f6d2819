"""xent: softmax cross-entropy kernels generated at run time. The ctypes binding of the C API is xent._capi; the
PyTorch face (docs/pytorch.md) is xent.torch, which imports torch only when its torch-facing names are used."""
