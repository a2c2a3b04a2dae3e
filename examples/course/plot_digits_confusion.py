"""
A confusion matrix for the ten digits
=====================================

The softmax model of :ref:`sphx_glr_auto_examples_course_plot_digit_weights.py` on the test
split it never saw: row ``i``, column ``j`` counts the test images of digit ``i`` it predicted
as ``j``. The diagonal is what it gets right.
"""

import matplotlib.pyplot as plt
import numpy as np

import xlogreg

train_x, train_y, test_x, test_y, classes = xlogreg.load_digits("all")
X, X_test = xlogreg.flatten_images(train_x, 16.0), xlogreg.flatten_images(test_x, 16.0)
model = xlogreg.train(X, train_y, num_iterations=2000, learning_rate=1.0, l2=1.0, tol=3e-3,
                      record_every=50)

predicted = np.asarray(model.predict(X_test)).astype(int).reshape(-1)
truth = np.asarray(test_y).reshape(-1)
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (truth, predicted), 1)
print(f"test accuracy: {100 * np.trace(confusion) / confusion.sum():.2f} % "
      f"({np.trace(confusion)} of {confusion.sum()})")

fig, ax = plt.subplots(figsize=(6, 5.4), layout="constrained")
ax.imshow(confusion, cmap="Blues")
for i in range(10):
    for j in range(10):
        if confusion[i, j]:
            ax.text(j, i, confusion[i, j], ha="center", va="center",
                    color="white" if confusion[i, j] > confusion.max() / 2 else "black")
ax.set_xticks(range(10), classes)
ax.set_yticks(range(10), classes)
ax.set_xlabel("predicted digit")
ax.set_ylabel("true digit")
ax.set_title("Test split: true against predicted")
plt.show()
