"""Backend-free core shared by the PyTorch and Keras backends (numpy, Pillow, tqdm, safetensors, filelock only)."""
