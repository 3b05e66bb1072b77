"""PyTorch backend of the SRGAN reproduction."""
