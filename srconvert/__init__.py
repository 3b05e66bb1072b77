"""Weights between the two backends: one backend-neutral file format and converters to and from it.

    neutral.py    the .npz format (framework-free: numpy only)
    layout.py     which Keras layer holds which torch tensors, and the layout changes (numpy only)
    torchfile.py  a reader of PyTorch .pth tensor files that needs no torch (restricted, code-free)
    vgg.py        torchvision's VGG19 weights as arrays, for both backends' perceptual loss (numpy only)
    torch_io.py   PyTorch state dicts / .pth checkpoints <-> neutral arrays (imports torch)
    keras_io.py   Keras models / checkpoints <-> neutral arrays (imports keras)
    convert.py    file-type detection, any checkpoint -> any other, in-memory conversion for test.py

Importing this package (or neutral / layout / torchfile / vgg / convert) imports neither framework: each
framework is imported only by the module that needs it, when a conversion touches it.
"""
