"""ResNet-18 in plain torch, with torchvision's module names so its state dicts load unchanged.

``stem="imagenet"``: 7x7 stride-2 convolution and max-pooling (for 224-pixel images, and for loading
ImageNet weights). ``stem="cifar"``: one 3x3 stride-1 convolution, no pooling (for 32-pixel images).
``width`` multiplies every layer's channels (64 at width 1).
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

import torch
from torch import nn

from powertrain.errors import PowertrainError
from powertrain.registry import POSITIVE


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_outputs: int,
        stem: Literal["imagenet", "cifar"] = "imagenet",
        width: Annotated[float, POSITIVE] = 1.0,
    ) -> None:
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise PowertrainError(f"ResNet-18 stem must be 'imagenet' or 'cifar', not {stem!r}")
        if width <= 0:
            raise PowertrainError(f"ResNet-18 width must be positive, got {width}")
        planes = [max(1, int(round(64 * width * 2**i))) for i in range(4)]
        in_channels = input_shape[0]
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, planes[0], 7, 2, 3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, 2, 1)
        else:
            self.conv1 = nn.Conv2d(in_channels, planes[0], 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(planes[0])
        self.relu = nn.ReLU(inplace=True)
        layers, in_planes = [], planes[0]
        for i, p in enumerate(planes):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(in_planes, p, stride), BasicBlock(p, p)))
            in_planes = p
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = planes[3]
        self.fc = nn.Linear(planes[3], num_outputs)

    @property
    def head(self) -> nn.Linear:
        return self.fc

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x):
        return self.fc(self.features(x))


def load_torchvision_state_dict(model: ResNet18, path: str | os.PathLike) -> dict[str, list[str]]:
    """Load a torchvision-format ResNet-18 state dict from a local file (``weights_only=True``).

    A classifier (``fc``) of another size than the model's is left as initialised, since the task
    differs. Returns the keys skipped that way; any other mismatch is an error.
    """
    from powertrain.models.checkpoints import load_pretrained

    return load_pretrained(model, path)
