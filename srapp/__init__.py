"""The application layer: what the command-line scripts do, the only code that sees parsed command lines.

    backends.py   choosing a backend by name (one-line error when its framework is missing)
    training.py   trains.py: planning the phases, preparing data, checks before training, resuming
    loading.py    any checkpoint into any backend (in-memory conversion through srconvert)
    scoring.py    test.py: scoring on the benchmarks, rows into results/, super-resolving images
    conversion.py convert_weights.py
    figures.py    make_figures.py: training curves and visual comparisons
    benchmarking.py benchmark.py: speed and memory of both backends

It imports srconvert, the backends (by name, when needed) and srcore; nothing imports it but the scripts.
"""
