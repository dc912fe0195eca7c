"""Which credentials serve a model and in which order: credentials, the model registry, the
selector, cooldowns, the per-config runtime snapshot, and the call every codec works on."""
