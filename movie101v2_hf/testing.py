"""Stand-ins for what cannot run everywhere, for tests, benchmarks and dry runs.

`make_tiny_video_llm` writes a randomly initialised Qwen2.5-VL of about 0.1M parameters, with a tokenizer
trained on the spot and a real processor, to a folder that `from_pretrained` loads like a Hub checkpoint:
the training recipe and the inference backends run on it end to end on a CPU, in seconds.

`ScriptedJudgeServer` is a real OpenAI-compatible HTTP server on loopback that answers chat completions
by rule instead of with a model: a fixed latency per request, and faults injected on demand (429, 500,
slow replies past the client's timeout, garbage answers). Point `OpenAIJudge(base_url=server.url)` at it
to exercise the whole judging path (concurrency, retries, parsing, cache) without a GPU.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .prompting import INSTRUCTIONS


def rule_based_answer(prompt: str) -> str:
    """A valid judge answer for `prompt`: `3,4` for L1 prompts (they name the Environment aspect), `3` for L2."""
    return "3,4" if ("Environment" in prompt or "环境" in prompt) else "3"


class ScriptedJudgeServer:
    """An OpenAI-compatible `/v1/chat/completions` server on 127.0.0.1 that answers by rule (judge or narrator).

    Args:
        answer: maps the user message to the reply text (default: `rule_based_answer`).
        latency: seconds each request takes before it is answered.
        faults: what the next requests get, in order, before normal service: `"429"`, `"500"`, `"400"`,
            `"401-echo"` (a 401 whose body quotes the bearer token back, as some servers do), `"slow"` (answers
            after `slow_seconds`), `"garbage"` (a reply no parser accepts), `"ok"`.
        slow_seconds: how long a `"slow"` reply takes.
        served_model: the `model` named in replies (default: the model asked for), as a server that serves an
            alias under another name reports it.

    `replies_sent` counts the chat completions written back in full.

    Example:
        >>> with ScriptedJudgeServer(faults=["429"]) as server:  # doctest: +SKIP
        ...     OpenAIJudge(model="judge", base_url=server.url).generate(["..."], metric="l2")
        ['3']
    """

    def __init__(
        self,
        *,
        answer: Callable[[str], str] = rule_based_answer,
        latency: float = 0.0,
        faults: Iterable[str] = (),
        slow_seconds: float = 5.0,
        served_model: str | None = None,
    ) -> None:
        self.answer = answer
        self.served_model = served_model
        self.replies_sent = 0
        self.latency = latency
        self.slow_seconds = slow_seconds
        self.faults: deque[str] = deque(faults)
        self.requests: list[dict[str, Any]] = []  # every request body, in arrival order
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests it was answering at once
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give an OpenAI client (`.../v1`)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _next_fault(self) -> str:
        with self._lock:
            return self.faults.popleft() if self.faults else "ok"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a timeout test)
                    pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer()
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                if not self.path.endswith("/chat/completions"):
                    return self._reply(404, {"error": {"message": f"unknown path {self.path}"}})
                fault = server._next_fault()
                if server.latency:
                    time.sleep(server.latency)  # the simulated model's time per request
                if fault == "429":
                    return self._reply(429, {"error": {"message": "rate limited"}})
                if fault == "500":
                    return self._reply(500, {"error": {"message": "internal error"}})
                if fault == "400":
                    return self._reply(400, {"error": {"message": "bad request"}})
                if fault == "401-echo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    return self._reply(401, {"error": {"message": f"Incorrect API key provided: {token}"}})
                if fault == "slow":
                    time.sleep(server.slow_seconds)
                content = body["messages"][-1]["content"]
                if isinstance(content, list):  # OpenAI's content parts
                    content = " ".join(part.get("text", "") for part in content)
                text = "I cannot judge this." if fault == "garbage" else server.answer(content)
                self._reply(
                    200,
                    {
                        "id": f"chatcmpl-{len(server.requests)}",
                        "object": "chat.completion",
                        "model": server.served_model or body.get("model"),
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        ],
                    },
                )
                with server._lock:
                    server.replies_sent += 1

        return Handler

    def start(self) -> ScriptedJudgeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ScriptedJudgeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# A Qwen2-VL style chat template (ours): the real checkpoints' templates render the same placeholders.
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_TINY_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]


def make_tiny_video_llm(path: str | Path, corpus: Iterable[str] = (), *, max_pixels: int = 56 * 56) -> Path:
    """Write a tiny random Qwen2.5-VL (model, trained tokenizer, processor, chat template) to `path`.

    Args:
        path: the folder to write; `AutoModelForImageTextToText` and `AutoProcessor` load it.
        corpus: extra text for the tokenizer (e.g. the narrations it will be trained on), so that they
            tokenize into a few hundred pieces rather than bytes.
        max_pixels: the processor's pixel cap per image and per frame (56 x 56 = 4 tokens after merging).

    Returns:
        `path`.

    Example:
        >>> make_tiny_video_llm("/tmp/tiny-qwen2.5-vl")  # doctest: +SKIP
        PosixPath('/tmp/tiny-qwen2.5-vl')
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    texts = [*INSTRUCTIONS.values(), "Main cast: Clip frames: user assistant system", *corpus]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=_TINY_SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    pad, _, eos, vision_start, vision_end, image, video = fast.convert_tokens_to_ids(_TINY_SPECIAL_TOKENS)
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=max_pixels),
        video_processor=Qwen2VLVideoProcessor(min_pixels=28 * 28, max_pixels=max_pixels),
        tokenizer=fast,
        chat_template=TINY_CHAT_TEMPLATE,
    )
    config = Qwen2_5_VLConfig(
        vision_config={
            "depth": 1,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 32,
            "fullatt_block_indexes": [0],
            "window_size": 56,
        },
        text_config={
            "vocab_size": len(fast),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": 8192,
            "bos_token_id": None,
            "eos_token_id": eos,
            "pad_token_id": pad,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        },
        image_token_id=image,
        video_token_id=video,
        vision_start_token_id=vision_start,
        vision_end_token_id=vision_end,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    with torch.random.fork_rng():  # the same weights whatever ran before, and the caller's RNG left as it was
        torch.manual_seed(0)
        model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = pad
    path = Path(path)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


# -- face identification stand-ins --------------------------------------------------------------------------------

# Synthetic faces: a 32 x 32 square of four coloured quadrants on black; the colours make the identity.
FACE_SIDE = 32
_FACE_COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)]
_FACE_PATTERNS = [(0, 1, 2, 3), (4, 5, 3, 0), (2, 3, 5, 4), (5, 4, 0, 1), (1, 0, 4, 2), (3, 2, 1, 5)]
# ArcFace's five-landmark template for a 112 x 112 crop (eyes, nose tip, mouth corners), from insightface.
_ARCFACE_TEMPLATE = [
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
]


def synthetic_face(identity: int, scale: int = 1) -> Any:
    """The face of synthetic person `identity` (0-5): a PIL image of FACE_SIDE * scale pixels a side.

    Example:
        >>> synthetic_face(0).size
        (32, 32)
    """
    from PIL import Image, ImageDraw

    side = FACE_SIDE * scale
    image = Image.new("RGB", (side, side))
    draw = ImageDraw.Draw(image)
    half = side // 2
    for quadrant, colour in enumerate(_FACE_PATTERNS[identity % len(_FACE_PATTERNS)]):
        left, top = (quadrant % 2) * half, (quadrant // 2) * half
        draw.rectangle((left, top, left + half - 1, top + half - 1), fill=_FACE_COLOURS[colour])
    return image


def synthetic_portrait(identity: int | None) -> Any:
    """A 96 x 128 portrait: black, with the face of `identity` at (32, 48), or no face when `identity` is None."""
    from PIL import Image

    image = Image.new("RGB", (96, 128))
    if identity is not None:
        image.paste(synthetic_face(identity), (32, 48))
    return image


def make_tiny_face_models(folder: str | Path) -> Path:
    """Write a detector and a recognizer that insightface's model zoo loads as SCRFD and ArcFace.

    `det_tiny.onnx` (input 1 x 3 x 128 x 128, nine outputs: scores, boxes and five keypoints for strides 8, 16,
    32 with two anchors) scores a 32-pixel window at stride 8 by its darkest pixel: a window that lies inside a
    bright synthetic face scores ~1, any window touching the black background ~0. Its boxes are the window and its
    keypoints ArcFace's template scaled to the window, so alignment maps the face onto the whole crop.
    `rec_tiny.onnx` (input 1 x 3 x 112 x 112) embeds a crop as the mean colour of a 4 x 4 grid (48 numbers):
    the same face gives the same embedding, faces of other colours other ones.

    Example:
        >>> make_tiny_face_models("/tmp/faces-model")  # doctest: +SKIP
        PosixPath('/tmp/faces-model')
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    side, stride, window = 128, 8, FACE_SIDE
    cells = side // stride  # 16 x 16 window positions at stride 8, two anchors each
    counts = {8: cells * cells * 2, 16: (side // 16) ** 2 * 2, 32: (side // 32) ** 2 * 2}
    keypoints = np.array([c / 112.0 * window / stride for point in _ARCFACE_TEMPLATE for c in point], "float32")

    def _model(graph: Any) -> Any:
        # opset 13 and IR version 7: what every onnxruntime since 1.8 loads
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)

    def constant(name: str, array: Any) -> Any:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(array, "float32")))

    nodes = [
        helper.make_node("ReduceMax", ["image"], ["brightest"], axes=[1], keepdims=1),  # the brightest channel
        helper.make_node("Neg", ["brightest"], ["negated"]),
        helper.make_node(
            "MaxPool",
            ["negated"],
            ["window_max"],
            kernel_shape=[window, window],
            strides=[stride, stride],
            pads=[0, 0, window - stride, window - stride],
        ),
        helper.make_node("Neg", ["window_max"], ["darkest"]),  # the darkest pixel of each window
        constant("offset", 0.5),
        constant("gain", 20.0),
        helper.make_node("Add", ["darkest", "offset"], ["shifted"]),
        helper.make_node("Mul", ["shifted", "gain"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["window_score"]),
        constant("grid_shape", [cells, cells, 1]),
        helper.make_node("Cast", ["grid_shape"], ["grid_shape_i"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["window_score", "grid_shape_i"], ["per_cell"]),
        helper.make_node("Concat", ["per_cell", "per_cell"], ["per_anchor"], axis=2),
        constant("score_shape", [counts[8], 1]),
        helper.make_node("Cast", ["score_shape"], ["score_shape_i"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["per_anchor", "score_shape_i"], ["score_8"]),
        constant("score_16", np.zeros((counts[16], 1))),
        constant("score_32", np.zeros((counts[32], 1))),
        constant("bbox_8", np.tile([0.0, 0.0, window / stride, window / stride], (counts[8], 1))),
        constant("bbox_16", np.zeros((counts[16], 4))),
        constant("bbox_32", np.zeros((counts[32], 4))),
        constant("kps_8", np.tile(keypoints, (counts[8], 1))),
        constant("kps_16", np.zeros((counts[16], 10))),
        constant("kps_32", np.zeros((counts[32], 10))),
    ]
    outputs = [
        helper.make_tensor_value_info(f"{kind}_{s}", TensorProto.FLOAT, [counts[s], width])
        for kind, width in (("score", 1), ("bbox", 4), ("kps", 10))
        for s in (8, 16, 32)
    ]
    detector = helper.make_graph(
        nodes, "tiny_scrfd", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, side, side])], outputs
    )
    onnx.save(_model(detector), folder / "det_tiny.onnx")

    recognizer = helper.make_graph(
        [
            helper.make_node("AveragePool", ["crop"], ["grid"], kernel_shape=[28, 28], strides=[28, 28]),
            helper.make_node("Flatten", ["grid"], ["embedding"], axis=1),
        ],
        "tiny_arcface",
        [helper.make_tensor_value_info("crop", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 48])],
    )
    onnx.save(_model(recognizer), folder / "rec_tiny.onnx")
    return folder


def make_tiny_text_to_image(path: str | Path) -> Path:
    """Write a Stable-Diffusion-shaped text-to-image pipeline of random weights (a 32-wide UNet, VAE and CLIP text
    encoder, a character-level CLIP tokenizer made on the spot) that `diffusers.AutoPipelineForText2Image` loads
    like a Hub checkpoint: it draws 32x32 noise in milliseconds on a CPU, enough to run `synth draw` end to end.

    Example:
        >>> pipeline = make_tiny_text_to_image("/tmp/tiny-sd")  # doctest: +SKIP
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    path = Path(path)
    tokenizer_files = path.parent / f".{path.name}-tokenizer"
    tokenizer_files.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in "abcdefghijklmnopqrstuvwxyz0123456789,.-'":
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + "</w>", len(vocab))
    (tokenizer_files / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (tokenizer_files / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(
        str(tokenizer_files / "vocab.json"), str(tokenizer_files / "merges.txt"), model_max_length=77
    )
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        norm_num_groups=8,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(vocab),
            projection_dim=32,
        )
    )
    pipeline = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=DDIMScheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(path)
    return path
