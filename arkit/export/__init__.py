"""Exports of a recording: glTF scene (:mod:`.gltf`), trackables JSON (:mod:`.json_export`),
rerun ``.rrd`` (:mod:`.rerun_export`, optional ``rerun-sdk``); trajectories go through
:func:`arkit.io.trajectory_formats.write_trajectory`. :func:`.snapshot.recording_state` gathers
what they export in one streaming pass."""
