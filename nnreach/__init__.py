"""nnreach: formal verification of neural networks and neural network control systems."""
