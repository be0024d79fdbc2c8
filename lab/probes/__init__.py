"""Per-layer instruments: hooks that measure gradients, activations and dead
units while a network trains, and the collectors that summarise them."""

from lab.probes.probes import Probes, ProbeSnapshot

__all__ = ["Probes", "ProbeSnapshot"]
