"""Backend-free core shared by the PyTorch and Keras backends (numpy, Pillow, scikit-image only)."""
