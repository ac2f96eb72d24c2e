"""Exporting a model's transformer to ONNX, int8 quantisation, and the export cache folder.

A model is exported **once** per transformer and quantisation setting, into a folder named by
content (:func:`export_folder`) under ``default_cache_dir() / "onnx"``. The folder holds
``model.onnx`` and a ``manifest.json`` (format version, source digest, export and quantisation
settings, library versions). :func:`ensure_export` is safe when several processes export the
same model at once: one exports into a temporary folder renamed into place when complete, under
a file lock; the others wait and reuse it. Exporting imports torch and transformers and reads
only local files; it leaves the process's logging configuration as it found it.

``onnx-int8`` is dynamic quantisation with onnxruntime: int8 weights (``QInt8``, symmetric, one
scale per output channel), activations quantised to uint8 at run time, the configuration that
uses the VNNI instructions of recent x86 CPUs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from semclust._disk import fsync_file
from semclust.embeddings.quiet import quiet_model_libraries
from semclust.errors import MissingDependencyError, ModelError

__all__ = [
    "EXPORT_FORMAT_VERSION",
    "INT8_SETTINGS",
    "OPSET",
    "ensure_export",
    "export_folder",
    "export_fp32",
    "library_versions",
    "quantize_int8",
    "valid_export",
]

#: Version of an export folder's layout; another version is exported afresh beside it.
EXPORT_FORMAT_VERSION = 1
#: ONNX opset of the exported graphs.
OPSET = 17
#: int8 settings: what the export folder's key and the fingerprint cover.
INT8_SETTINGS: dict[str, Any] = {
    "method": "onnxruntime.quantize_dynamic",
    "weight_type": "QInt8",
    "activation_type": "QUInt8",
    "per_channel": True,
    "reduce_range": False,
    "op_types": ["Gather", "MatMul"],
    "matmul_const_b_only": True,
}
# Tolerance of the check that the exported graph reproduces the torch model's outputs.
_EXPORT_ATOL = 1e-3


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries an export depends on (for its manifest)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("semclust", "onnxruntime", "onnx", "torch", "transformers", "tokenizers", "numpy"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def export_fp32(transformer_dir: Path, target: Path) -> list[str]:
    """Export the transformer's token embeddings to ONNX; return the graph's input names."""
    try:
        import torch
        from transformers import AutoModel
    except ImportError as err:
        raise MissingDependencyError(
            f"exporting a model to ONNX needs torch and transformers ({err}); run "
            "`pip install sentence-transformers`, or use a machine where the export is cached"
        ) from err
    import inspect

    try:
        try:
            model = AutoModel.from_pretrained(
                str(transformer_dir), local_files_only=True, attn_implementation="eager"
            )
        except (TypeError, ValueError):
            model = AutoModel.from_pretrained(str(transformer_dir), local_files_only=True)
    except Exception as err:
        raise ModelError(f"could not load the transformer in {transformer_dir}: {err}") from err
    model = model.float().eval()
    params = inspect.signature(model.forward).parameters
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if "token_type_ids" in params else [])

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(names, inputs)), return_dict=True)[0]

    # an example with padding, so that nothing about batch or length is traced as a constant
    ids = torch.tensor([[101 + (7 * i) % 900 for i in range(16)]] * 2, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    example = (ids, mask, torch.zeros_like(ids))[: len(names)]
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "token_embeddings"]}
    # a check on another shape (and padding), computed before exporting: exporting leaves the
    # torch model in a state that gives other outputs
    check = torch.tensor([[101, 2023, 2003, 1037, 3231, 102, 0], [101, 2178, 102, 0, 0, 0, 0]] * 2)
    check = check.clamp(max=int(getattr(model.config, "vocab_size", 30000)) - 1)
    check_mask = (torch.arange(7)[None, :] < torch.tensor([6, 3, 6, 3])[:, None]).long()
    feed = (check, check_mask, torch.zeros_like(check))[: len(names)]
    with torch.no_grad():
        expected = TokenEmbeddings(model)(*feed).numpy()
    kwargs: dict[str, Any] = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript exporter: deterministic, no onnxscript needed
    try:
        with torch.no_grad():
            torch.onnx.export(
                TokenEmbeddings(model),
                example,
                str(target),
                input_names=names,
                output_names=["token_embeddings"],
                dynamic_axes=axes,
                opset_version=OPSET,
                do_constant_folding=True,
                **kwargs,
            )
    except Exception as err:
        raise ModelError(f"could not export {transformer_dir} to ONNX: {err}; use backend='torch'") from err
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(target), sess_options=opts, providers=["CPUExecutionProvider"])
    got = session.run(None, {n: t.numpy() for n, t in zip(names, feed)})[0]
    keep = check_mask.numpy().astype(bool)
    if got.shape != expected.shape or not np.allclose(got[keep], expected[keep], atol=_EXPORT_ATOL):
        raise ModelError(
            f"the ONNX export of {transformer_dir} does not reproduce the model's outputs; "
            "use backend='torch' for this model"
        )
    return names


def quantize_int8(source: Path, target: Path, settings: dict[str, Any]) -> None:
    """Quantise the float32 graph ``source`` to int8 ``target`` with ``settings`` (dynamic)."""
    from onnxruntime.quantization import (
        QuantType,
        quantize_dynamic,
    )

    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=bool(settings["per_channel"]),
        reduce_range=bool(settings["reduce_range"]),
        op_types_to_quantize=list(settings["op_types"]),
        extra_options={"MatMulConstBOnly": settings["matmul_const_b_only"]},
    )


def valid_export(folder: Path) -> dict[str, Any] | None:
    """The manifest of a complete export folder, else ``None``."""
    try:
        manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        size = (folder / "model.onnx").stat().st_size
    except (OSError, ValueError):
        return None
    if manifest.get("format_version") != EXPORT_FORMAT_VERSION or manifest.get("model_bytes") != size:
        return None
    return manifest


def export_folder(root: Path, source_digest: str, quantization: dict[str, Any] | None) -> Path:
    """Where the export of a transformer (by ``source_digest``) with ``quantization`` lives.

    Named by content only, so copies of a model (with another pooling, say) share the export.
    """
    settings = {"format_version": EXPORT_FORMAT_VERSION, "opset": OPSET, "quantization": quantization}
    key = hashlib.sha256((source_digest + json.dumps(settings, sort_keys=True)).encode()).hexdigest()[:16]
    return root / f"{'fp32' if quantization is None else 'int8'}-{key}"


def ensure_export(
    folder: Path,
    transformer_dir: Path,
    quantization: dict[str, Any] | None,
    about: dict[str, Any],
    *,
    lock_timeout: float,
) -> Path:
    """Export into ``folder`` unless a complete export is there; return its ``model.onnx``.

    ``about`` (backend, model name, source digest) goes into the manifest. One process exports
    while the others wait on ``folder.lock`` for at most ``lock_timeout`` seconds.
    """
    if valid_export(folder) is not None:
        return folder / "model.onnx"
    from filelock import FileLock, Timeout

    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(folder) + ".lock", timeout=lock_timeout):
            if valid_export(folder) is None:
                _export_into(folder, transformer_dir, quantization, about)
    except Timeout:
        raise ModelError(
            f"another process has been exporting {about.get('model')!r} to {folder} for over "
            f"{lock_timeout:.0f} s; wait for it, or delete {folder}.lock if it died"
        ) from None
    return folder / "model.onnx"


def _export_into(
    folder: Path, transformer_dir: Path, quantization: dict[str, Any] | None, about: dict[str, Any]
) -> None:
    """Export (and quantise) into a temporary sibling of ``folder``, then rename it into place."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        tmp.chmod(0o755)  # like a folder made with mkdir, not mkdtemp's 0700
        with quiet_model_libraries():
            fp32 = tmp / ("model.onnx" if quantization is None else "fp32.onnx")
            inputs = export_fp32(transformer_dir, fp32)
            if quantization is not None:
                quantize_int8(fp32, tmp / "model.onnx", quantization)
                fp32.unlink()
        model_file = tmp / "model.onnx"
        manifest = {
            **about,
            "format_version": EXPORT_FORMAT_VERSION,
            "opset": OPSET,
            "inputs": inputs,
            "output": "token_embeddings",
            "quantization": quantization,
            "model_bytes": model_file.stat().st_size,
            "model_sha256": hashlib.sha256(model_file.read_bytes()).hexdigest(),
            "versions": library_versions(),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        for f in tmp.iterdir():
            fsync_file(f)
        if folder.exists():  # an incomplete or outdated export: replace it
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
