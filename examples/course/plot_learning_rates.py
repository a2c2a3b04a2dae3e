"""
The cost curve against the learning rate
========================================

As the course does: one model per learning rate, the cost recorded every 100 iterations.
Too small a rate learns slowly; a larger one drives the training cost down faster, which is not
the same as a better test accuracy.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt

import xlogreg

DATA = Path(os.environ.get("XLOGREG_DATA_DIR", "../shared/datasets"))
train_x, train_y, test_x, test_y, classes = xlogreg.load_dataset(
    DATA / "train_catvnoncat.h5", DATA / "test_catvnoncat.h5")
X, X_test = xlogreg.flatten_images(train_x), xlogreg.flatten_images(test_x)

fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
for learning_rate in (0.01, 0.005, 0.001, 0.0001):
    model = xlogreg.train(X, train_y, X_test, test_y, num_iterations=1500,
                          learning_rate=learning_rate)
    print(f"learning rate {learning_rate}: train {model.train_accuracy:.2f} %, "
          f"test {model.test_accuracy:.0f} %")
    ax.plot(model.cost_iterations, model.costs,
            label=f"{learning_rate} (test {model.test_accuracy:.0f} %)")
ax.set_xlabel("iteration")
ax.set_ylabel("cost")
ax.set_title("The course data: cost against iteration")
ax.legend(title="learning rate")
plt.show()

# %%
# The command line draws the same plot:
# ``xlogreg train --train train_catvnoncat.h5 --test test_catvnoncat.h5
# --learning-rates 0.01,0.001,0.0001 --iterations 1500 --plot learning_curve.png``.
