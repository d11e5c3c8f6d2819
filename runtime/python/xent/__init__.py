"""xent: softmax cross-entropy kernels generated at run time. The ctypes binding of the C API is xent._capi; the
PyTorch face (DESIGN.md) will be built over it."""
