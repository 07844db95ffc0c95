"""The data dictionary: every results table and column, with its meaning and unit.

``fleetsim.metrics.reference`` renders this into docs/results.md, and a test checks
that every column a run writes is documented here.
"""

from __future__ import annotations

TABLE_DOCS: dict[str, str] = {
    "vehicle_windows": "One row per (vehicle, time window of outputs.window): frames and energy.",
    "vehicles": "One row per vehicle: its hardware, modelled inference cost and end state.",
    "uploads": "One row per completed sample upload (a batch of samples in one transfer).",
    "training_jobs": "One row per completed cloud training job.",
    "model_versions": "One row per model version released by a finished training job.",
    "model_swaps": "One row per vehicle switching to a newer model version after its download.",
    "frames": "One row per camera frame (only with outputs.frame_table: true).",
}

TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "vehicle_windows": {
        "vehicle": "Vehicle name, '<group>_<index>'.",
        "group": "Vehicle group name.",
        "t_start_s": "Window start, seconds of simulated time.",
        "t_end_s": "Window end (the run's end for the last window), seconds.",
        "frames_generated": "Frames captured in the window.",
        "frames_processed": "Captured frames that ran on the accelerator.",
        "frames_dropped": "Captured frames dropped at a full accelerator queue.",
        "frames_late": "Processed frames whose latency exceeded the group deadline.",
        "frames_sampled": "Processed frames kept as training samples for upload.",
        "latency_mean_s": "Mean capture-to-detection latency of processed frames, seconds.",
        "latency_max_s": "Largest latency of a processed frame, seconds.",
        "busy_s": "Accelerator busy time serving the window's frames, seconds.",
        "energy_j": "Accelerator energy: idle power x window + (active - idle) x busy, joules.",
    },
    "vehicles": {
        "vehicle": "Vehicle name.",
        "group": "Vehicle group name.",
        "accelerator": "Edge hardware model id.",
        "precision": "Precision the detector runs at.",
        "inference_latency_s": "Modelled time of one inference (accelerator service time), seconds.",
        "inference_energy_j": "Modelled energy of one inference at active power, joules.",
        "final_model_version": "Model version the vehicle ran at the end (0 = shipped model).",
        "samples_queued_at_end": "Samples still waiting on the vehicle for upload at the end.",
    },
    "uploads": {
        "vehicle": "Uploading vehicle.",
        "group": "Its group.",
        "t_start_s": "Transfer start, seconds.",
        "t_end_s": "Arrival of the last byte in the cloud, seconds.",
        "samples": "Samples in the transfer.",
        "bytes": "Bytes transferred.",
    },
    "training_jobs": {
        "job": "Job number, from 1.",
        "cluster": "Cluster name.",
        "device": "Cloud hardware model id.",
        "chips": "Accelerators the job used.",
        "samples": "Training samples (all received so far).",
        "epochs": "Passes over the samples.",
        "t_submit_s": "Submission time, seconds.",
        "t_start_s": "Start on the cluster, seconds.",
        "t_end_s": "Completion, seconds.",
        "flops": "Training FLOPs (3 x forward FLOPs x samples x epochs).",
        "energy_j": "Facility energy (IT energy x PUE), joules.",
        "cost_usd": "Price of the chip-hours used, US dollars.",
    },
    "model_versions": {
        "version": "Model version number, from 1 (0 is the shipped model).",
        "job": "Training job that produced it.",
        "t_release_s": "Release time (job completion), seconds.",
        "samples": "Samples it was trained on.",
    },
    "model_swaps": {
        "vehicle": "Vehicle that switched.",
        "group": "Its group.",
        "from_version": "Model version before the switch.",
        "to_version": "Model version after the switch.",
        "t_download_start_s": "Start of the model download, seconds.",
        "t_swap_s": "Time of the switch (download complete), seconds.",
        "bytes": "Model bytes downloaded.",
    },
    "frames": {
        "vehicle": "Vehicle name.",
        "group": "Vehicle group name.",
        "camera": "Camera index within the vehicle (order of fleet.groups[].cameras).",
        "t_capture_s": "Capture time, seconds.",
        "t_start_s": "Start of inference, seconds (NaN if dropped).",
        "t_done_s": "End of inference, seconds (NaN if dropped).",
        "latency_s": "t_done_s - t_capture_s, seconds (NaN if dropped).",
        "dropped": "True if the frame arrived to a full queue and was not processed.",
        "model_version": "Model version the vehicle ran when the frame was captured.",
        "sampled": "True if the frame was kept as a training sample.",
    },
}
