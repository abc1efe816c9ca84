"""Importing this file is running the model folder's own code: it leaves a marker."""

import os

with open(os.environ.get("OVERCOAT_TEST_MARKER", "REMOTE_CODE_RAN"), "w") as f:
    f.write("remote code ran")

from transformers import PretrainedConfig, PreTrainedModel


class EvilConfig(PretrainedConfig):
    model_type = "evil"


class EvilModel(PreTrainedModel):
    config_class = EvilConfig
