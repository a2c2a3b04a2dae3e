"""
Classify your own picture
=========================

A model trained with ``image_shape`` reads picture files through
:func:`xlogreg.io.load_images`: any format Pillow reads, turned upright, converted to RGB,
resized to 64x64 and scaled as in training. Here a picture is made from one of the course's test
images, enlarged and saved as a JPEG, as a photograph of your own would be.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

import xlogreg
from xlogreg.io import load_images

DATA = Path(os.environ.get("XLOGREG_DATA_DIR", "../shared/datasets"))
train_x, train_y, test_x, test_y, classes = xlogreg.load_dataset(
    DATA / "train_catvnoncat.h5", DATA / "test_catvnoncat.h5")
model = xlogreg.train(xlogreg.flatten_images(train_x), train_y, num_iterations=2000,
                      learning_rate=0.005, image_shape=train_x.shape[1:])

# A 256x256 JPEG of test picture 1 (a cat), standing in for your photograph.
Image.fromarray(test_x[1]).resize((256, 256), Image.Resampling.BICUBIC).save("my_cat.jpg")

X_mine = load_images(["my_cat.jpg"], model)          # (12288, 1), as the model was trained
p_cat = float(np.asarray(model.predict_proba(X_mine))[0, 0])
print(f"my_cat.jpg: {'cat' if p_cat > 0.5 else 'non-cat'} (P(cat) = {p_cat:.4f})")

fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3.8), layout="constrained")
left.imshow(Image.open("my_cat.jpg"))
left.set_title("my_cat.jpg, 256x256")
right.imshow(X_mine[:, 0].reshape(model.image_shape))
right.set_title(f"what the model sees, 64x64\nP(cat) = {p_cat:.2f}")
for ax in (left, right):
    ax.set_axis_off()
plt.show()

# %%
# The command line does the same: ``xlogreg predict cat.h5 my_cat.jpg``, with a model saved by
# ``model.save("cat.h5")`` or ``xlogreg train --save cat.h5``.
os.remove("my_cat.jpg")
