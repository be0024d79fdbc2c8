"""Compiled CPU kernels (C, built on first use with the machine's compiler)
and their ctypes wrappers. Every kernel has a torch fallback: without a
compiler, or with ``KNOBLAB_NO_FUSED`` set, the callers compute the same
figures with torch."""
