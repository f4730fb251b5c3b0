"""Self-supervised training of the embedding model (SimCLR on Ray Train): worker_config.enable_training."""
