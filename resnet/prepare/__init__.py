"""Getting ready for class, the day before, while the network is still there.

    python -m resnet.prepare weights --depth 18 50   # the official ImageNet weights: progress, MD5, resumable
    python -m resnet.prepare warmup                  # reference runs, shipped models, fast-path programs

``tasks`` does the work (it loads Paddle); ``background`` has the server's own warm-up run
once per server process, in its inference service (``resnet.lab.service``), so the first
visitor of Feature maps does not wait for it.
"""
