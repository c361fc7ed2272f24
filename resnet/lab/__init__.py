"""The training lab: train variants side by side (config, data, train, store, pools and workers, presets, session)."""
