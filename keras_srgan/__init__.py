"""Keras 3 (TensorFlow) backend of the SRGAN reproduction."""

import os

# Before keras/tensorflow are first imported: this package is written for the TensorFlow backend
# (tf.nn.depth_to_space, tf.function), and TF's C++ info/warning chatter would bury the progress bar.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
