"""
Train against test accuracy over the iterations
===============================================

Gradient descent from zero is deterministic, so the model after ``n`` iterations is the model of
a run of ``n`` iterations. Training one model per ``n`` shows the two accuracies part: the
training accuracy climbs towards 100 %, while the test accuracy peaks early and falls back to
about 70 %: the neuron learns the 209 training pictures, not cats.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt

import xlogreg

DATA = Path(os.environ.get("XLOGREG_DATA_DIR", "../shared/datasets"))
train_x, train_y, test_x, test_y, classes = xlogreg.load_dataset(
    DATA / "train_catvnoncat.h5", DATA / "test_catvnoncat.h5")
X, X_test = xlogreg.flatten_images(train_x), xlogreg.flatten_images(test_x)

iterations = list(range(0, 3001, 150))
train_accuracy, test_accuracy = [], []
for n in iterations:
    model = xlogreg.train(X, train_y, X_test, test_y, num_iterations=n, learning_rate=0.005)
    train_accuracy.append(model.train_accuracy)
    test_accuracy.append(model.test_accuracy)
print(f"after {iterations[-1]} iterations: train {train_accuracy[-1]:.1f} %, "
      f"test {test_accuracy[-1]:.1f} %; best test {max(test_accuracy):.0f} % "
      f"after {iterations[test_accuracy.index(max(test_accuracy))]} iterations")

fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
ax.plot(iterations, train_accuracy, marker=".", label="train (209 pictures)")
ax.plot(iterations, test_accuracy, marker=".", label="test (50 pictures)")
ax.axvline(2000, color="grey", linestyle=":", label="the course's 2000 iterations")
ax.set_xlabel("iterations at learning rate 0.005")
ax.set_ylabel("accuracy (%)")
ax.legend()
plt.show()
