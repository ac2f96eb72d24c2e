"""The ONNX Runtime embedding backends: ``"onnx"`` (float32) and ``"onnx-int8"``.

A sentence-transformers model's transformer is exported to ONNX **once** per model and
quantisation setting (:mod:`~semclust.embeddings.onnx.export`), into
``default_cache_dir() / "onnx"`` (``$SEMCLUST_CACHE_DIR/onnx`` when that is set), and run with
onnxruntime (:mod:`~semclust.embeddings.onnx.runtime`); pooling and truncation follow the
model's own configuration (:mod:`~semclust.embeddings.onnx.config`).
"""

from __future__ import annotations

from semclust.embeddings.onnx.config import POOLING_MODES
from semclust.embeddings.onnx.export import EXPORT_FORMAT_VERSION
from semclust.embeddings.onnx.runtime import OnnxEmbedder

__all__ = ["EXPORT_FORMAT_VERSION", "POOLING_MODES", "OnnxEmbedder"]
