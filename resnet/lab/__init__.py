"""The training lab: train variants side by side (config, data, train, store, jobs, presets, session)."""
