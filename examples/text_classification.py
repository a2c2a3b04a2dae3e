"""
Text classification on sparse TF-IDF features
=============================================

``TfidfVectorizer`` into ``xlogreg.LogisticRegression``, in ``GridSearchCV``; run it with::

    python examples/text_classification.py

The corpus is made up here (no download): short "documents" about three
topics, mixed with common words and a few words of the other topics. The
TF-IDF matrix stays a SciPy CSR matrix from the vectorizer to the fit: xlogreg
multiplies it as it is (xlogreg.data.sparse), it never makes a dense copy.
"""

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

from xlogreg import LogisticRegression

TOPICS = {
    "sport": "goal match team score league coach season player referee stadium",
    "politics": "vote party election law senate minister policy budget debate parliament",
    "computing": "gpu kernel compiler memory cache thread python array sparse matrix",
}
COMMON = "the a of and to in is on for with that this it as was".split()

rng = np.random.default_rng(0)
docs, labels = [], []
for _ in range(600):
    topic = rng.choice(list(TOPICS))
    words = (list(rng.choice(TOPICS[topic].split(), 3)) + list(rng.choice(COMMON, 8))
             + list(rng.choice(" ".join(TOPICS.values()).split(), 4)))  # some words of every topic
    docs.append(" ".join(rng.permutation(words)))
    labels.append(topic)
docs_train, docs_test, y_train, y_test = train_test_split(docs, labels, test_size=0.25, random_state=0)

pipe = make_pipeline(TfidfVectorizer(), LogisticRegression())
search = GridSearchCV(pipe, {"logisticregression__C": [0.1, 1.0, 10.0]}, cv=5).fit(docs_train, y_train)
vectorizer, clf = search.best_estimator_

X_train = vectorizer.transform(docs_train)
print(f"TF-IDF: {X_train.shape[0]} documents x {X_train.shape[1]} words, {X_train.nnz} stored values "
      f"({type(X_train).__name__})")
print(f"best C: {search.best_params_['logisticregression__C']}, test accuracy: "
      f"{search.score(docs_test, y_test):.3f}")
words = vectorizer.get_feature_names_out()
for topic, coef in zip(clf.classes_, clf.coef_):
    print(f"{topic:10s} {' '.join(words[np.argsort(coef)[::-1][:5]])}")
print(search.predict(["the coach and the team won the match", "a sparse matrix in gpu memory"]))
