"""
Softmax regression on the ten digits: the weights of each class
===============================================================

With labels 0..9, ``xlogreg.train`` trains softmax regression: ``w`` has one column per class,
``(64, 10)`` for scikit-learn's 8x8 digits. Each column, reshaped to 8x8, shows the ink that
speaks for its digit (red) and against it (blue).
"""

import matplotlib.pyplot as plt
import numpy as np

import xlogreg

train_x, train_y, test_x, test_y, classes = xlogreg.load_digits("all")   # pixels 0..16
X, X_test = xlogreg.flatten_images(train_x, 16.0), xlogreg.flatten_images(test_x, 16.0)
model = xlogreg.train(X, train_y, X_test, test_y, num_iterations=2000, learning_rate=1.0,
                      l2=1.0, tol=3e-3, record_every=50)
print(f"{model.n_classes} classes, w of shape {model.w.shape}; "
      f"train {model.train_accuracy:.1f} %, test {model.test_accuracy:.1f} %")

w = np.asarray(model.w)
limit = np.abs(w).max()
fig, axes = plt.subplots(2, 5, figsize=(10, 4.6), layout="constrained")
for digit, ax in enumerate(axes.flat):
    image = ax.imshow(w[:, digit].reshape(8, 8), cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(f"class {classes[digit]}")
    ax.set_axis_off()
fig.colorbar(image, ax=axes, shrink=0.8, label="weight")
plt.show()
