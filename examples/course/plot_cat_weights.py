"""
The learned weights of the cat model, as a picture
==================================================

The course's neuron has one weight per pixel and colour: ``w`` has shape ``(12288, 1)``, the
size of a flattened 64x64x3 picture. Reshaped to ``(64, 64, 3)`` it can be looked at: red where
a pixel's colour pushes towards "cat", blue where it pushes away.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import xlogreg

DATA = Path(os.environ.get("XLOGREG_DATA_DIR", "../shared/datasets"))
train_x, train_y, test_x, test_y, classes = xlogreg.load_dataset(
    DATA / "train_catvnoncat.h5", DATA / "test_catvnoncat.h5")
X, X_test = xlogreg.flatten_images(train_x), xlogreg.flatten_images(test_x)

model = xlogreg.train(X, train_y, X_test, test_y, num_iterations=2000, learning_rate=0.005)
print(f"train accuracy: {model.train_accuracy:.2f} %, test accuracy: {model.test_accuracy:.1f} %")

# %%
# Each colour channel on its own scale: the weight, from most negative (blue) to most positive
# (red), for the red, green and blue value of each pixel; and the three channels together as an
# RGB picture, each scaled to 0..1.
w = np.asarray(model.w).reshape(train_x.shape[1:])        # (64, 64, 3)
limit = np.abs(w).max()

fig, axes = plt.subplots(1, 4, figsize=(12, 3.4), layout="constrained")
for channel, (ax, name) in enumerate(zip(axes, ["red", "green", "blue"])):
    image = ax.imshow(w[:, :, channel], cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(f"weights of the {name} values")
rgb = (w - w.min()) / (w.max() - w.min())
axes[3].imshow(rgb)
axes[3].set_title("all three, as an RGB picture")
for ax in axes:
    ax.set_axis_off()
fig.colorbar(image, ax=axes[:3], shrink=0.8, label="weight")
plt.show()

# %%
# The picture has little of a cat in it: with 12288 weights and 209 examples the neuron
# fits the training set (99 % train accuracy) with weights that look like noise, and reaches
# 70 % on the test set. That gap is the course's lesson on over-fitting; see
# :ref:`sphx_glr_auto_examples_course_plot_train_test_accuracy.py`.
