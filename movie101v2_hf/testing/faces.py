"""Synthetic faces and a detector / recognizer pair that insightface loads, for `movie101v2 faces` without a download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
        >>> sorted(path.name for path in make_tiny_face_models(tmp / "faces-model").iterdir())
        ['det_tiny.onnx', 'rec_tiny.onnx']
    """
    import onnx

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(_onnx_model(_detector_graph()), folder / "det_tiny.onnx")
    onnx.save(_onnx_model(_recognizer_graph()), folder / "rec_tiny.onnx")
    return folder


def _onnx_model(graph: Any) -> Any:
    from onnx import helper

    # opset 13 and IR version 7: what every onnxruntime since 1.8 loads
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)


def _detector_graph() -> Any:
    """The SCRFD-shaped detector of `make_tiny_face_models`: scores windows by their darkest pixel."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    side, stride, window = 128, 8, FACE_SIDE
    cells = side // stride  # 16 x 16 window positions at stride 8, two anchors each
    counts = {8: cells * cells * 2, 16: (side // 16) ** 2 * 2, 32: (side // 32) ** 2 * 2}
    keypoints = np.array([c / 112.0 * window / stride for point in _ARCFACE_TEMPLATE for c in point], "float32")

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
    return helper.make_graph(
        nodes, "tiny_scrfd", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, side, side])], outputs
    )


def _recognizer_graph() -> Any:
    """The ArcFace-shaped recognizer of `make_tiny_face_models`: a crop's mean colour over a 4 x 4 grid."""
    from onnx import TensorProto, helper

    return helper.make_graph(
        [
            helper.make_node("AveragePool", ["crop"], ["grid"], kernel_shape=[28, 28], strides=[28, 28]),
            helper.make_node("Flatten", ["grid"], ["embedding"], axis=1),
        ],
        "tiny_arcface",
        [helper.make_tensor_value_info("crop", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 48])],
    )
