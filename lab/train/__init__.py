"""Training: the trainer, its task (loss, metrics, targets), optimisers,
initialisation, devices, and signal propagation at initialisation."""
