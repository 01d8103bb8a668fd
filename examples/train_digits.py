"""A training script of the user's own, for `powertrain measure --target` and command studies: a linear
classifier on scikit-learn's digits, trained in passes over the data, reporting the validation accuracy
after each pass (python examples/train_digits.py --lr 0.01 --batch-size 32 --seed 0)."""

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

import powertrain

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--epochs", type=int, default=50)
args = parser.parse_args()

x, y = load_digits(return_X_y=True)
x_train, x_val, y_train, y_val = train_test_split(x / 16.0, y, test_size=0.3, random_state=0)
model = SGDClassifier(learning_rate="constant", eta0=args.lr, random_state=args.seed)
rng = np.random.default_rng(args.seed)
step = 0
for epoch in range(1, args.epochs + 1):
    order = rng.permutation(len(x_train))
    for start in range(0, len(order), args.batch_size):
        batch = order[start : start + args.batch_size]
        model.partial_fit(x_train[batch], y_train[batch], classes=np.arange(10))
        step += 1
    print(f"epoch {epoch} done")
    powertrain.tell(step=step, epoch=epoch, val_acc=model.score(x_val, y_val))
