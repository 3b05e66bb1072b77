"""The built-in generator architectures, one file each; srcore.arch imports every module here, and each
registers its ArchSpec and the models that train it (`register_arch`)."""
