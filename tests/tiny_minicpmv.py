"""Tiny MiniCPM-V checkpoints built offline, for the in-process describer's tests.

- :func:`build_native` saves a random-weight MiniCPM-V 4.6 (transformers' own
  classes, a few hundred thousand parameters) with a byte-level BPE tokenizer
  trained here and the processor the real checkpoints use (smaller image sizes).
- :func:`build_chat_standin` saves a remote-code checkpoint in the shape of
  ``openbmb/MiniCPM-V-2``: ``config.json`` with an ``auto_map``, its modelling code
  beside the weights, and a ``chat`` method with 2.0's signature. Its answer is
  computed from the image and the question, so a test can tell they arrived.

Needs the vlm extra (torch, torchvision, transformers).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = {
    "image_token": "<|image_pad|>",
    "video_token": "<|video_pad|>",
    "image_start_token": "<image>",
    "image_end_token": "</image>",
    "slice_start_token": "<slice>",
    "slice_end_token": "</slice>",
    "image_id_start_token": "<image_id>",
    "image_id_end_token": "</image_id>",
}
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|image_pad|>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "What is happening in the image? Read out any text you can see.",
    "A person holds a red cup next to a green ball. The sign says OPEN.",
    "Then answer: what is in front of you? Can you read the sign for me?",
]


def build_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *SPECIAL_TOKENS.values()]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(CORPUS * 10, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", extra_special_tokens=SPECIAL_TOKENS
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_native(folder: Path, *, version: str = "4.6", seed: int = 0) -> Path:
    """A random-weight MiniCPM-V 4.6 (or 4.7) saved in ``folder``, loadable with ``from_pretrained``."""
    import torch
    from transformers import AutoModelForImageTextToText
    from transformers.models.minicpmv4_6 import MiniCPMV4_6Config, MiniCPMV4_6Processor
    from transformers.models.minicpmv4_6.image_processing_minicpmv4_6 import MiniCPMV4_6ImageProcessor
    from transformers.models.minicpmv4_6.video_processing_minicpmv4_6 import MiniCPMV4_6VideoProcessor
    from transformers.models.minicpmv4_7 import MiniCPMV4_7Config, MiniCPMV4_7Processor

    tokenizer = build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    config_class, processor_class, extra = MiniCPMV4_6Config, MiniCPMV4_6Processor, {}
    if version == "4.7":  # 4.7 also reads where images, slices and lines begin and end
        config_class, processor_class = MiniCPMV4_7Config, MiniCPMV4_7Processor
        extra = {"image_start_id": ids(SPECIAL_TOKENS["image_start_token"]),
                 "image_end_id": ids(SPECIAL_TOKENS["image_end_token"]),
                 "slice_start_id": ids(SPECIAL_TOKENS["slice_start_token"]),
                 "slice_end_id": ids(SPECIAL_TOKENS["slice_end_token"]),
                 "newline_id": tokenizer.encode("\n", add_special_tokens=False)[0]}
    sizes = {"patch_size": 14, "scale_resolution": 112, "max_slice_nums": 4}
    processor = processor_class(
        image_processor=MiniCPMV4_6ImageProcessor(**sizes),
        video_processor=MiniCPMV4_6VideoProcessor(**sizes),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )
    config = config_class(
        vision_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
            "image_size": 112, "patch_size": 14,  # must match the processor
        },
        text_config={
            "model_type": "qwen3_5_text", "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16,
            "layer_types": ["linear_attention", "full_attention"],
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 2, 4],
                                "partial_rotary_factor": 1.0},
        },
        insert_layer_id=1,  # below the vision layer count, or the merger is silently skipped
        image_size=112,
        image_token_id=tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS["image_token"]),
        video_token_id=tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS["video_token"]),
        **extra,
    )
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


STANDIN_CONFIG = '''
from transformers import PretrainedConfig


class StandInConfig(PretrainedConfig):
    model_type = "minicpmv"

    def __init__(self, hidden_size=8, **kwargs):
        self.hidden_size = hidden_size
        super().__init__(**kwargs)
'''

STANDIN_MODEL = '''
import numpy as np
import torch
from transformers import PreTrainedModel

from .configuration_standin import StandInConfig

CALLS = []


class StandInModel(PreTrainedModel):
    """MiniCPM-V 2.0's chat API over a one-layer model: the answer names the image's
    brightest channel and echoes the question through the tokenizer."""

    config_class = StandInConfig

    def __init__(self, config):
        super().__init__(config)
        self.proj = torch.nn.Linear(3, config.hidden_size)
        self.post_init()

    def chat(self, image, msgs, context, tokenizer, vision_hidden_states=None, max_new_tokens=1024,
             sampling=True, max_inp_length=2048, **kwargs):
        CALLS.append({"size": image.size, "msgs": msgs, "context": context, "sampling": sampling, **kwargs})
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32).reshape(-1, 3).mean(0) / 255)
        self.proj(pixels.to(self.proj.weight.dtype))  # the weights are used, not just loaded
        colour = ("red", "green", "blue")[int(pixels.argmax())]
        question = tokenizer.decode(tokenizer.encode(msgs[-1]["content"]), skip_special_tokens=True)
        answer = f"A mostly {colour} picture. You asked: {question}"
        return answer, [*msgs, {"role": "assistant", "content": answer}], None
'''


def build_chat_standin(folder: Path) -> Path:
    """A remote-code checkpoint in the shape of MiniCPM-V 2.0, saved in ``folder``."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "configuration_standin.py").write_text(textwrap.dedent(STANDIN_CONFIG))
    (folder / "modeling_standin.py").write_text(textwrap.dedent(STANDIN_MODEL))
    config = {
        "model_type": "minicpmv",
        "architectures": ["StandInModel"],
        "auto_map": {"AutoConfig": "configuration_standin.StandInConfig", "AutoModel": "modeling_standin.StandInModel"},
        "hidden_size": 8,
    }
    (folder / "config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    save_file({"proj.weight": torch.randn(8, 3), "proj.bias": torch.zeros(8)}, str(folder / "model.safetensors"))
    build_tokenizer().save_pretrained(folder)
    return folder
