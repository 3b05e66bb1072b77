"""Weights between the two backends: the only package that knows both frameworks.

    layout.py     which Keras layer holds which torch tensors, and the layout changes (numpy only)
    torch_io.py   PyTorch models / .pth checkpoints <-> neutral arrays (imports torch)
    keras_io.py   Keras models / checkpoints <-> neutral arrays (imports keras)
    convert.py    any checkpoint -> any other; a checkpoint's generator built in either backend

The backend-neutral `.npz` format (srcore/neutral.py), the torch-free `.pth` reader (srcore/torchfile.py)
and torchvision's VGG19 as arrays (srcore/vgg19.py) are framework-free and live in srcore, where both
backends can use them. Importing this package (or layout / convert) imports neither framework: each is
imported only by the module that needs it, when a conversion touches it.
"""
