"""Pack MediaPipe Tasks ``.task`` bundles from the legacy ``mediapipe==0.10.21`` wheel's models.

A ``.task`` file is a zip of ``.tflite`` models under the names the Tasks graph looks up. The
legacy wheel ships the same networks as single files; two things make them loadable:

* the member names the Tasks API expects (``hand_detector.tflite`` + ``hand_landmarks_detector
  .tflite``; ``pose_detector.tflite`` + ``pose_landmarks_detector.tflite``; ``face_detector
  .tflite`` + ``face_landmarks_detector.tflite``);
* for float-input models without TFLite metadata (the pose landmark model), the image normalisation the
  Tasks preprocessing needs (``NormalizationOptions``: mean and std per channel) is written into
  the model's ``TFLITE_METADATA`` buffer by :func:`add_image_normalization`.

* the legacy face mesh model outputs 468 x 3 values while the Tasks graph decodes 478 landmarks
  (packed as is, it reads 1404 / 478 = 2 values per landmark and the mesh comes out scrambled
  with zero depth): :func:`pad_face_mesh_to_478` appends 10 placeholder points to its output.

The packed face landmarker (``face_landmarker_legacy``) gives the 468-point mesh but no
blendshapes, no facial transformation matrix (the bundle has no geometry metadata) and no iris
(points 468-477 are copies of eyelid landmarks). ``face_landmark_with_attention.tflite`` does not
load as a Tasks model (its second output holds 160 lip values where the graph expects the
1-value face flag). The official ``face_landmarker.task`` has all of these.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass
from typing import Optional

from arkit.core.errors import ArkitError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundleMember:
    """One model in a bundle: its name in the ``.task`` zip, its wheel path, the input
    normalisation ``(mean, std)`` to write as metadata (None: keep the file's), and whether to
    pad a 468-point face mesh output to 478 points (:func:`pad_face_mesh_to_478`)."""

    name: str
    wheel_member: str
    normalization: Optional[tuple] = None
    pad_mesh_to_478: bool = False


#: Registry name -> members of the bundle packed from the legacy wheel.
WHEEL_BUNDLES = {
    "hand_landmarker": (
        BundleMember("hand_detector.tflite", "mediapipe/modules/palm_detection/palm_detection_full.tflite"),
        BundleMember("hand_landmarks_detector.tflite", "mediapipe/modules/hand_landmark/hand_landmark_full.tflite"),
    ),
    "pose_landmarker_full": (
        # the detector's metadata already says (x - 127.5) / 127.5; the landmark model has none and
        # takes [0, 1] inputs (MediaPipe's legacy pose graph)
        BundleMember("pose_detector.tflite", "mediapipe/modules/pose_detection/pose_detection.tflite"),
        BundleMember("pose_landmarks_detector.tflite", "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
                     (0.0, 255.0)),
    ),
    "face_landmarker_legacy": (
        BundleMember("face_detector.tflite", "mediapipe/modules/face_detection/face_detection_short_range.tflite"),
        BundleMember("face_landmarks_detector.tflite", "mediapipe/modules/face_landmark/face_landmark.tflite",
                     pad_mesh_to_478=True),
    ),
}


def add_image_normalization(tflite: bytes, mean: float, std: float, name: str = "model") -> bytes:
    """A copy of a ``.tflite`` model with TFLite metadata saying its image input is
    ``(pixel - mean) / std`` in RGB (all channels), as the Tasks preprocessing requires for float inputs.

    Raises
    ------
    ArkitError
        When the bytes are not a TFLite model or it already has metadata.
    """
    import flatbuffers
    from mediapipe.tasks.metadata import metadata_schema_py_generated as md
    from mediapipe.tasks.metadata import schema_py_generated as tfl

    if len(tflite) < 8 or tflite[4:8] != b"TFL3":
        raise ArkitError(f"{name}: not a TFLite model (no TFL3 identifier)")
    model = tfl.ModelT.InitFromObj(tfl.Model.GetRootAsModel(bytearray(tflite), 0))
    if any((m.name or b"") in (b"TFLITE_METADATA", "TFLITE_METADATA") for m in model.metadata or []):
        raise ArkitError(f"{name}: already has TFLite metadata")
    sub = model.subgraphs[0]
    norm = md.ProcessUnitT(md.ProcessUnitOptions.NormalizationOptions, md.NormalizationOptionsT([float(mean)], [float(std)]))
    image = md.TensorMetadataT(name="image", content=md.ContentT(md.ContentProperties.ImageProperties,
                                                               md.ImagePropertiesT(md.ColorSpaceType.RGB)),
                               processUnits=[norm])
    outputs = [md.TensorMetadataT(name=f"output_{i}") for i in range(len(sub.outputs))]
    meta = md.ModelMetadataT(name=name, description="normalisation added by arkit (arkit.recognition.model_bundles)",
                             subgraphMetadata=[md.SubGraphMetadataT(inputTensorMetadata=[image] +
                                                                    [md.TensorMetadataT() for _ in sub.inputs[1:]],
                                                                    outputTensorMetadata=outputs)],
                             minParserVersion="1.0.0")
    b = flatbuffers.Builder(1024)
    b.Finish(meta.Pack(b), file_identifier=b"M001")
    model.buffers.append(tfl.BufferT(data=list(b.Output())))
    model.metadata = (model.metadata or []) + [tfl.MetadataT(name="TFLITE_METADATA", buffer=len(model.buffers) - 1)]
    out = flatbuffers.Builder(len(tflite) + 4096)
    out.Finish(model.Pack(out), file_identifier=b"TFL3")
    return bytes(out.Output())


#: Mesh landmarks copied into the 10 iris slots (468-472: the eye of landmarks 33/133, 473-477:
#: the eye of 263/362; centre, two corners, upper and lower lid) so the face box the Tasks graph
#: derives from all 478 points is unchanged. They are NOT iris estimates.
IRIS_PLACEHOLDERS = (159, 133, 159, 33, 145, 386, 263, 386, 362, 374)


def pad_face_mesh_to_478(tflite: bytes, name: str = "face_landmark.tflite") -> bytes:
    """A copy of the legacy 468-point face mesh model whose landmark output holds 478 points.

    The Tasks FaceLandmarker decodes 478 x 3 values; the legacy model outputs 468 x 3. Three ops
    are appended to the graph: RESHAPE the 1404 values to (468, 3), GATHER the
    :data:`IRIS_PLACEHOLDERS` rows, RESHAPE to (1, 1, 1, 30), and CONCATENATE them after the
    mesh; the new (1, 1, 1, 1434) tensor replaces the first model output.

    Raises
    ------
    ArkitError
        When the model's first output is not (1, 1, 1, 1404) float32.
    """
    import flatbuffers
    import numpy as np
    from mediapipe.tasks.metadata import schema_py_generated as tfl

    if len(tflite) < 8 or tflite[4:8] != b"TFL3":
        raise ArkitError(f"{name}: not a TFLite model (no TFL3 identifier)")
    model = tfl.ModelT.InitFromObj(tfl.Model.GetRootAsModel(bytearray(tflite), 0))
    sub = model.subgraphs[0]
    mesh = sub.outputs[0]
    if [int(v) for v in sub.tensors[mesh].shape] != [1, 1, 1, 1404] or sub.tensors[mesh].type != tfl.TensorType.FLOAT32:
        raise ArkitError(f"{name}: first output is not the (1, 1, 1, 1404) float32 face mesh")

    def opcode(code: int) -> int:
        for i, oc in enumerate(model.operatorCodes):
            if max(oc.builtinCode, oc.deprecatedBuiltinCode) == code:
                return i
        oc = tfl.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, code, 1
        model.operatorCodes.append(oc)
        return len(model.operatorCodes) - 1

    def tensor(shape, ttype, tname, data=None) -> int:
        buf = tfl.BufferT()
        if data is not None:
            buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
        model.buffers.append(buf)
        t = tfl.TensorT()
        t.shape, t.type, t.buffer, t.name = list(shape), ttype, len(model.buffers) - 1, tname
        sub.tensors.append(t)
        return len(sub.tensors) - 1

    def op(code: int, inputs, outputs, opt_type, opt) -> None:
        o = tfl.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = opcode(code), list(inputs), list(outputs)
        o.builtinOptionsType, o.builtinOptions = opt_type, opt
        sub.operators.append(o)

    f32, i32 = tfl.TensorType.FLOAT32, tfl.TensorType.INT32
    shape_a = tensor([2], i32, "arkit_shape_468x3", np.array([468, 3], np.int32))
    rows = tensor([468, 3], f32, "arkit_mesh_rows")
    idx = tensor([len(IRIS_PLACEHOLDERS)], i32, "arkit_iris_placeholder_rows", np.array(IRIS_PLACEHOLDERS, np.int32))
    picked = tensor([10, 3], f32, "arkit_iris_placeholders")
    shape_b = tensor([4], i32, "arkit_shape_1x1x1x30", np.array([1, 1, 1, 30], np.int32))
    flat = tensor([1, 1, 1, 30], f32, "arkit_iris_placeholders_flat")
    out = tensor([1, 1, 1, 1434], f32, "arkit_mesh_478")
    r1, r2 = tfl.ReshapeOptionsT(), tfl.ReshapeOptionsT()
    r1.newShape, r2.newShape = [468, 3], [1, 1, 1, 30]
    g = tfl.GatherOptionsT()
    g.axis, g.batchDims = 0, 0
    c = tfl.ConcatenationOptionsT()
    c.axis, c.fusedActivationFunction = 3, tfl.ActivationFunctionType.NONE
    op(tfl.BuiltinOperator.RESHAPE, [mesh, shape_a], [rows], tfl.BuiltinOptions.ReshapeOptions, r1)
    op(tfl.BuiltinOperator.GATHER, [rows, idx], [picked], tfl.BuiltinOptions.GatherOptions, g)
    op(tfl.BuiltinOperator.RESHAPE, [picked, shape_b], [flat], tfl.BuiltinOptions.ReshapeOptions, r2)
    op(tfl.BuiltinOperator.CONCATENATION, [mesh, flat], [out], tfl.BuiltinOptions.ConcatenationOptions, c)
    sub.outputs = [out] + [int(v) for v in sub.outputs[1:]]
    b = flatbuffers.Builder(len(tflite) + 4096)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def pack_from_wheel(name: str, wheel_zip: zipfile.ZipFile) -> bytes:
    """The ``.task`` bundle (zip bytes) for registry model ``name`` from an open legacy wheel.

    Raises
    ------
    ArkitError
        When ``name`` has no wheel recipe or the wheel lacks a member.
    """
    if name not in WHEEL_BUNDLES:
        raise ArkitError(f"model {name!r} cannot be packed from the legacy wheel (known: {', '.join(sorted(WHEEL_BUNDLES))})")
    buf = io.BytesIO()
    members = set(wheel_zip.namelist())
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zb:
        for m in WHEEL_BUNDLES[name]:
            if m.wheel_member not in members:
                raise ArkitError(f"the wheel has no {m.wheel_member} (needed for {name})")
            data = wheel_zip.read(m.wheel_member)
            if m.pad_mesh_to_478:
                data = pad_face_mesh_to_478(data, name=m.wheel_member)
            if m.normalization is not None:
                data = add_image_normalization(data, *m.normalization, name=m.name)
            zb.writestr(zipfile.ZipInfo(m.name, date_time=(1980, 1, 1, 0, 0, 0)), data)  # same bytes every time
    return buf.getvalue()
