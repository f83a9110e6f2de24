"""A PyTorch model verified without writing an ONNX file yourself: a small classifier with a skip
connection (not an ``nn.Sequential``), checked for robustness around a point and for a property.

Needs PyTorch (``pip install '.[torch]'``). The weights are random (seeded): train your own model and
pass it the same way.
"""

import numpy as np
import torch
from torch import nn

import nnreach


class SkipNet(nn.Module):
    """4 inputs -> 16 -> 16 (plus a skip connection) -> 3 classes."""

    def __init__(self):
        super().__init__()
        self.inp, self.hidden, self.out = nn.Linear(4, 16), nn.Linear(16, 16), nn.Linear(16, 3)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        return self.out(h + torch.relu(self.hidden(h)))


torch.manual_seed(0)
model = SkipNet()
point = np.array([0.2, -0.4, 0.6, 0.1])

# Robustness: every input within 0.01 of the point (L-inf) keeps the model's class of the point.
for eps in (0.01, 0.5):
    result = nnreach.verify_robustness(model, point, eps, timeout=60)
    print(f"eps {eps}: class {result.stats['label']} {result.status.value} ({result.method}, {result.seconds:.2f} s)")
    if result.counterexample is not None:
        print("  counterexample x =", np.round(result.counterexample.x, 4).tolist(),
              "checked by", result.counterexample.checked_by)

# Any property: the input box and the unsafe outputs y0 >= y1 + 1 (rows A y <= b).
box = nnreach.linf_ball(point, 0.1)
prop = nnreach.halfspace_property(box, A=[[-1.0, 1.0, 0.0]], b=[-1.0])
result = nnreach.verify(model, properties=prop, timeout=60)
print("y0 >= y1 + 1 somewhere in the box:", result.status.value)
