"""Looking inside one network: images, the fast path, features, anatomy, cost, diagnostics."""
