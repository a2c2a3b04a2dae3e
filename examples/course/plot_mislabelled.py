"""
The mislabelled test pictures
=============================

The course's model gets 15 of the 50 test pictures wrong. Here they are, each with its label
and the probability of "cat" the model gave it.
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

p_cat = np.asarray(model.predict_proba(X_test))[0]       # (50,): P(cat) for each test picture
predicted = np.asarray(model.predict(X_test))[0]
labels = np.asarray(test_y).reshape(-1)
wrong = np.flatnonzero(predicted != labels)
print(f"{wrong.size} of {labels.size} test pictures are mislabelled: {wrong.tolist()}")

# %%
# Each picture's title: its index in the test set, its true class, and P(cat).
columns = 5
rows = -(-wrong.size // columns)
fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.5 * rows), layout="constrained")
for ax in axes.flat:
    ax.set_axis_off()
for ax, i in zip(axes.flat, wrong):
    ax.imshow(test_x[i])
    ax.set_title(f"#{i}: {classes[int(labels[i])]}\nP(cat) = {p_cat[i]:.2f}", fontsize=9)
fig.suptitle("Test pictures the model gets wrong")
plt.show()
