//! The training loop for the denoisers: data order, noise draws, optimiser, checkpoints.
