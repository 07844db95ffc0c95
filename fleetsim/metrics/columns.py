"""The data dictionary: every results table and column, with its meaning and unit.

``python -m fleetsim.reference_docs`` renders this into docs/results.md. Every run checks
its tables' columns and its summary.json keys against it (``fleetsim.results``), and a
test checks that every key documented here is written.
"""

from __future__ import annotations

TABLE_DOCS: dict[str, str] = {
    "vehicle_windows": "One row per (vehicle, time window of outputs.window): frames and energy.",
    "vehicles": "One row per vehicle: its hardware, modelled inference cost and end state.",
    "uploads": "One row per completed sample upload (a batch of samples in one transfer).",
    "training_jobs": "One row per completed cloud training job.",
    "training_events": "One row per training job event: submitted, started (on a node), preempted, finished.",
    "model_versions": "One row per model version released by a finished training job.",
    "model_compiles": "One row per compile of a released model version for the accelerators it goes to: "
    "one per (variant, compiler) among the fleet's groups (hardware_models/compilers/).",
    "skipped_jobs": "One row per training job the daily budget did not allow.",
    "rollouts": "One row per canary decision: roll the version out to the fleet, or roll it back.",
    "model_swaps": "One row per vehicle switching to a newer model version after its download.",
    "outages": "One row per accelerator failure (fleet.groups[].faults.failures).",
    "frames": "One row per camera frame (only with outputs.frame_table: true).",
    "latency_legs": "One row per (vehicle group, latency leg) with processed frames: where the time "
    "from capture to detections goes.",
    "inference_servers": "One row per pool of remote accelerators serving offloaded frames (network.mec, "
    "cloud.inference).",
    "latency_histogram": "One row per (vehicle group, latency leg, log-spaced latency bin) holding processed "
    "frames: the histograms the latency percentiles come from, for CDFs.",
    "detections": "One row per frame really rendered and run through the detector model.",
    "accuracy_windows": "One row per accuracy window (outputs.accuracy_window): mAP@0.5 over time.",
    "store_samples": "One row per sample received by the cloud's sample store.",
    "labels": "One row per sample labelled (cloud.labeling.labeler).",
    "store_drops": "One row per labelled sample dropped by cloud.labeling.retention.",
    "sample_conditions": "One row per world condition label: what became of the samples received "
    "(received = pending + labelled; labelled = retained + dropped).",
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
        "frames_failed": "Captured frames lost to an accelerator failure (down when their readout "
        "ended, or queued or in service when it failed).",
        "frames_late": "Processed frames whose latency exceeded the group deadline.",
        "frames_detected": "Processed frames really rendered and run through the detector model.",
        "frames_throttled": "Processed frames served at the thermally throttled speed.",
        "latency_mean_s": "Mean capture-to-detection latency of processed frames, seconds.",
        "latency_max_s": "Largest latency of a processed frame, seconds.",
        "busy_s": "Accelerator busy time serving the window's frames, seconds.",
        "energy_j": "Accelerator energy: idle power x window + (busy - idle power) x busy time, joules; "
        "busy power is one inference's modelled energy over its time (host CPU fallback included).",
    },
    "vehicles": {
        "vehicle": "Vehicle name.",
        "group": "Vehicle group name.",
        "accelerator": "Edge hardware model id.",
        "precision": "Precision the detector runs at.",
        "inference_latency_s": "Modelled time of one inference (accelerator service time), seconds.",
        "throttled_latency_s": "The same once thermally throttled, seconds (NaN if the group does "
        "not throttle).",
        "inference_energy_j": "Modelled energy of one inference at active power, joules.",
        "inference_layers_s": "Part of inference_latency_s in the accelerator's layers (each compute or "
        "memory bound), seconds.",
        "inference_overhead_s": "Part in the call overhead and per-layer overheads, seconds.",
        "inference_transfer_s": "Part in the host-link (USB/PCIe) transfer of the input and of the tensor "
        "leaving the accelerator, seconds.",
        "inference_host_s": "Part on the host CPU: layers from the first op class the accelerator cannot "
        "run, detection post-processing among them, seconds (0 when it runs every layer). The rest of "
        "inference_latency_s streams weights beyond on-chip memory and switches contexts.",
        "final_model_version": "Model version the vehicle ran at the end (0 = shipped model).",
        "samples_queued_at_end": "Samples still waiting on the vehicle for upload at the end.",
        "samples_evicted": "Samples its full upload buffer dropped (uploads.eviction).",
        "radio_energy_j": "Radio energy: promotions, connected base power, energy per bit sent and "
        "received, tails; joules.",
        "handovers": "Handovers along its route during the run.",
        "coverage_gap_s": "Seconds without coverage (route stretches with no cell).",
        "handover_s": "Seconds of data interruption by handovers.",
    },
    "outages": {
        "vehicle": "Vehicle whose accelerator failed.",
        "group": "Its group.",
        "t_fail_s": "Failure time, seconds (frames queued or in service then are lost).",
        "t_back_s": "End of the repair, seconds (may lie beyond the run's end).",
    },
    "uploads": {
        "vehicle": "Uploading vehicle.",
        "group": "Its group.",
        "technology": "Technology the upload started on (lte, nr_sub6, nr_mmwave, wifi).",
        "t_start_s": "Transfer start, seconds.",
        "t_end_s": "Arrival of the last byte in the cloud, seconds.",
        "samples": "Samples in the transfer.",
        "bytes": "Payload bytes transferred.",
        "wire_bytes": "Bytes sent: payload plus retransmissions after loss.",
        "paused_s": "Seconds the transfer waited without a network (gaps, handovers).",
    },
    "training_jobs": {
        "job": "Job number, from 1.",
        "cluster": "Cluster name.",
        "pool": "Node pool it finished on.",
        "device": "Cloud hardware model id of that pool.",
        "capacity": "'on_demand' or 'spot' (that pool's).",
        "chips": "Accelerators per node of that pool.",
        "samples": "Training samples (all received so far).",
        "epochs": "Passes over the samples.",
        "t_submit_s": "Submission time, seconds.",
        "t_start_s": "First start on a node, seconds.",
        "t_end_s": "Completion, seconds.",
        "flops": "Training FLOPs (3 x forward FLOPs x samples x epochs, summed over the models the job "
                 "trains: see fleetsim.hardware.training.TrainingWork).",
        "queued_s": "Time waiting for a node, first and after each preemption, seconds.",
        "checkpoint_s": "Time spent writing completed checkpoints, seconds. t_end_s - t_submit_s = "
        "queued_s + start-up + compute + checkpoint_s + lost_s + restart_s.",
        "preemptions": "Times a spot node was taken away from the job.",
        "lost_s": "Node time thrown away by preemptions: compute and writing since the last checkpoint, "
        "seconds.",
        "restart_s": "Start-up paid by the stays that preemptions ended (paid again on resuming), seconds.",
        "energy_j": "Facility energy (IT energy x PUE) of every stay, lost work and extra start-ups "
        "included, joules.",
        "cost_usd": "Price of the chip-hours of every stay (at the spot price on spot pools), US dollars.",
    },
    "training_events": {
        "t_s": "Time of the event, seconds.",
        "job": "Job number.",
        "cluster": "Cluster name.",
        "event": "'submitted', 'started' (a stay on a node begins), 'preempted' (it ends early; the job "
        "queues again) or 'finished'. A job whose last event is submitted or preempted was queued at the "
        "end of the run; started: running.",
        "pool": "Node pool (empty for submitted).",
        "node": "Node number within the pool (empty for submitted and finished).",
        "lost_s": "Preempted: node time thrown away since the last checkpoint, seconds.",
        "restart_s": "Preempted: start-up the ended stay had paid, seconds.",
        "cost_usd": "Started: price of the stay's chip-hours within the run (to its finish, its preemption "
        "or the end of the run; at the spot price on spot pools), US dollars; 0 for other events.",
        "energy_j": "Started: facility energy (with PUE) of the stay within the run, joules; 0 for other "
        "events.",
    },
    "model_versions": {
        "version": "Model version number, from 1 (0 is the shipped model).",
        "job": "Training job that produced it.",
        "parent_job": "Job whose weights it was fine-tuned from (0: the shipped baseline).",
        "t_release_s": "Release time (job completion), seconds.",
        "samples": "Most recent labelled samples it was fine-tuned on (pixels and the labels "
        "cloud.labeling gave them).",
        "replay": "Replayed clear-day frames mixed in against forgetting.",
        "epochs": "Passes over samples and replay.",
        "size_bytes": "Size of its ONNX files, one per variant the fleet runs.",
        "host_wall_s": "Host seconds the real fine-tune, each variant's export and validation took.",
        "deployed": "Whether it passed the validation gate and was rolled out.",
        "to_beat_map50": "Mean held-out mAP@0.5 of the deployed model it had to beat (plus min_gain).",
        "map50_day_clear": "mAP@0.5 of the new version on held-out day clear frames "
        "(its variants' mean).",
        "map50_dusk_clear": "mAP@0.5 of the new version on held-out dusk clear frames "
        "(its variants' mean).",
        "map50_night_clear": "mAP@0.5 of the new version on held-out night clear frames "
        "(its variants' mean).",
        "map50_day_rain": "mAP@0.5 of the new version on held-out day rain frames "
        "(its variants' mean).",
        "map50_day_fog": "mAP@0.5 of the new version on held-out day fog frames "
        "(its variants' mean).",
        "map50_day_snow": "mAP@0.5 of the new version on held-out day snow frames "
        "(its variants' mean).",
        "map50_day_clear_novel": "mAP@0.5 of the new version on held-out day clear novel frames "
        "(its variants' mean).",
    },
    "model_compiles": {
        "version": "Model version compiled (model_versions.version).",
        "compiler": "Compiler id (hardware_models/compilers/), 'none' for CPUs.",
        "variant": "Precision the groups run the version at (fleet.groups[].precision).",
        "devices": "Accelerators it compiles for, comma-separated (one with a per-device compiler such as "
        "TensorRT: one row per GPU model).",
        "groups": "Vehicle groups whose downloads wait for it, comma-separated.",
        "t_start_s": "Start of the compile (the version's release), seconds.",
        "t_done_s": "End of the compile: those groups' downloads start then, seconds.",
        "compile_s": "Compile time, fixed + per_layer x layers of the variant compiled, seconds.",
        "runs_on": "Device id of the node the compile runs on (a per-device compiler: the target itself).",
        "cost_usd": "compile_s at that node's hourly price (a device without one: its unit price over "
        "the compiler's host_life, else runs_on's hour), US dollars.",
        "energy_j": "compile_s at that node's active power, joules.",
        "layers": "Layers of the costed workload of the variant compiled.",
        "layers_mapped": "Layers the compiler maps to the accelerator (before the first unmapped one).",
        "layers_on_host": "Layers left to the host CPU (layers - layers_mapped); the hardware model runs "
        "them on the host.",
        "host_ops": "Operator classes the compiler leaves to the host, comma-separated (empty: none).",
    },
    "rollouts": {
        "version": "Model version on the canary.",
        "t_release_s": "Release time, seconds (the canary's downloads start).",
        "t_decision_s": "Decision time (release + cloud.rollout.canary_period), seconds.",
        "canary_vehicles": "Vehicles in the canary.",
        "signal": "What was compared (cloud.rollout.canary_signal): map50 or confidence.",
        "canary_score": "The signal over the canary's frames run by the version.",
        "fleet_score": "The signal over the other vehicles' frames, same span.",
        "decision": "'fleet' (the rest downloads it) or 'rollback' (the canary goes back, the version "
        "is withdrawn).",
    },
    "skipped_jobs": {
        "t_s": "Decision time, seconds.",
        "new_samples": "New samples waiting when it was skipped.",
        "cost_usd": "Modelled price of the job, US dollars.",
        "energy_j": "Modelled facility energy of the job, joules.",
        "day_usd": "Spending of the last 24 h with this job, US dollars.",
        "day_energy_j": "Energy of the last 24 h with this job, joules.",
    },
    "model_swaps": {
        "vehicle": "Vehicle that switched.",
        "group": "Its group.",
        "variant": "Detector variant its group runs (fleet.groups[].variant, or derived): the version's "
        "file of it is what it downloaded.",
        "from_version": "Model version before the switch.",
        "to_version": "Model version after the switch.",
        "rollback": "True for a canary vehicle going back to the previous version.",
        "t_download_start_s": "Start of the model download, seconds.",
        "t_swap_s": "Time of the switch (download complete), seconds.",
        "bytes": "Model bytes downloaded.",
        "chunks": "Chunks the download took (cloud.rollout.chunk_size).",
        "chunk_restarts": "Chunks started over after a pause longer than cloud.rollout.resume_timeout.",
        "paused_s": "Seconds the download waited without a network.",
    },
    "frames": {
        "vehicle": "Vehicle name.",
        "group": "Vehicle group name.",
        "camera": "Camera index within the vehicle (order of fleet.groups[].cameras).",
        "t_capture_s": "Capture time, seconds.",
        "t_start_s": "Start of the frame's processing on the vehicle (its camera readout done, its "
        "queue waited), seconds (NaN if dropped or failed).",
        "t_done_s": "Detections handed off, seconds (NaN if dropped or failed).",
        "latency_s": "t_done_s - t_capture_s, seconds (NaN if dropped or failed).",
        "dropped": "True if the frame reached a full queue (at the end of its readout) and was not "
        "processed.",
        "failed": "True if the frame was lost to an accelerator failure.",
        "throttled": "True if the frame was served at the thermally throttled speed.",
        "model_version": "Model version the vehicle ran when the frame was captured.",
        "detected": "True if the frame was really rendered and run through the detector model.",
    },
}

DETECTION_COLUMNS: dict[str, dict[str, str]] = {
    "detections": {
        "vehicle": "Vehicle name.",
        "group": "Vehicle group name.",
        "camera": "Camera index within the vehicle.",
        "counter": "Frame number of its camera.",
        "t_capture_s": "Capture time, seconds.",
        "t_done_s": "End of inference, seconds.",
        "model_version": "Model version that detected it.",
        "condition": "World condition label at capture (e.g. night_fog, day_clear_novel).",
        "objects": "Ground-truth objects in the frame.",
        "found": "Detections at or above detector.score_threshold.",
        "true_positives": "Found detections matching a ground-truth box (IoU >= 0.5, same class).",
        "false_positives": "found - true_positives.",
        "confidence": "Highest detection score in the frame (0 if none).",
        "uncertainty": "Largest 1 - abs(2*score - 1) over the frame's detections (1 = a coin toss).",
        "selected": "True if the frame was kept as a training sample.",
    },
    "accuracy_windows": {
        "t_start_s": "Window start, seconds.",
        "t_end_s": "Window end, seconds.",
        "frames": "Detected frames captured in the window.",
        "map50": "mAP@0.5 over the window's frames (empty if it has no ground truth).",
        "condition": "Most frequent condition label in the window.",
        "model_version": "Highest model version seen in the window.",
    },
}
TABLE_COLUMNS.update(DETECTION_COLUMNS)

STORE_COLUMNS: dict[str, dict[str, str]] = {
    "store_samples": {
        "sample": "Sample id (into the run's sample archive).",
        "vehicle": "Vehicle that uploaded it.",
        "group": "Its group.",
        "condition": "World condition label at capture (e.g. night_fog).",
        "t_received_s": "Arrival of its upload in the cloud, seconds.",
    },
    "labels": {
        "sample": "Sample id.",
        "labeler": "'annotators' (labels are the ground truth) or 'teacher' (its detections).",
        "condition": "World condition label at capture.",
        "t_received_s": "Arrival in the store, seconds.",
        "t_labelled_s": "Its label reached the store, seconds.",
        "delay_s": "t_labelled_s - t_received_s: queueing, labelling and turnaround, seconds.",
        "objects": "Ground-truth boxes in the sample.",
        "labels": "Boxes the labeller produced.",
        "true_positives": "Produced boxes matching a ground-truth box (IoU >= 0.5, same class).",
        "cost_usd": "Price of labelling it, US dollars.",
    },
    "store_drops": {
        "sample": "Sample id.",
        "condition": "World condition label at capture.",
        "reason": "'max_samples' (oldest beyond the pool limit) or 'max_age'.",
        "t_received_s": "Arrival in the store, seconds.",
        "t_dropped_s": "Drop time, seconds.",
    },
    "sample_conditions": {
        "condition": "World condition label.",
        "received": "Samples of that condition received.",
        "pending": "Still waiting for a label at the end.",
        "labelled": "Labelled during the run.",
        "retained": "Labelled and still in the store at the end.",
        "dropped": "Labelled and dropped by retention.",
    },
}
TABLE_COLUMNS.update(STORE_COLUMNS)
TABLE_COLUMNS["latency_legs"] = {
    "group": "Vehicle group name.",
    "leg": "Onboard: capture (camera readout, overlapping the processing of earlier frames), queue "
    "(from the end of the readout to the start of the vehicle's processing), preprocess "
    "(resize and normalise on the host CPU), transfer (to and from the accelerator), inference, postprocess "
    "(decode and NMS on the host), handoff (detections to the consumer); the hardware models cost each "
    "(fleetsim.hardware.inference.frame_legs). Offloaded (placement mec or cloud): "
    "capture (camera readout, as onboard), send_queue (from the end of the readout to the uplink), "
    "uplink (sending the frame plus one-way latency), remote_queue, "
    "inference (on the remote accelerator), downlink (the detections back). total: capture to detections.",
    "frames": "Processed frames.",
    "mean_s": "Mean time in the leg, seconds (exact).",
    "p50_s": "Median time in the leg, seconds (from the latency histogram: within 0.5 % of the exact one, "
    "never outside the leg's least and greatest time; 0 when under 1 ns).",
    "p95_s": "95th percentile, seconds.",
    "p99_s": "99th percentile, seconds.",
}
TABLE_COLUMNS["inference_servers"] = {
    "site": "MEC server name, or the cloud region.",
    "kind": "'mec' or 'cloud'.",
    "accelerator": "Hardware model id of its accelerators.",
    "servers": "Accelerators serving its queue.",
    "inference_latency_s": "Modelled time of one inference, seconds (each group's frames cost their own "
                           "detector variant's; the mean over the frames served when variants share it).",
    "frames_arrived": "Offloaded frames that reached it (arrived = served + dropped).",
    "frames_served": "Frames it detected.",
    "frames_dropped": "Frames turned away by its full queue.",
    "busy_s": "Accelerator-seconds spent serving, summed over its accelerators.",
    "utilisation": "busy_s / (servers x run duration).",
    "energy_j": "Its accelerators' energy: idle power over the run plus the extra while serving, joules.",
    "cost_usd": "Its accelerators rented for the whole run at their hourly_price, US dollars (NaN when the "
    "device has none).",
}
TABLE_COLUMNS["latency_histogram"] = {
    "group": "Vehicle group name.",
    "leg": "Latency leg, as in latency_legs (total: capture to detections).",
    "latency_low_s": "Lower edge of the bin, seconds (0 for the bin of times under 1 ns).",
    "latency_high_s": "Upper edge of the bin, seconds: bins from 1 ns up are 1.005 / 0.995 times as wide as "
    "the one below (a DDSketch with 0.5 % relative accuracy; the last one, from 1e9 s, also holds longer "
    "times).",
    "frames": "Processed frames whose time in the leg fell in the bin; over a group's total rows they sum "
    "to groups.<name>.frames.processed.",
}

SUMMARY_KEYS: dict[str, str] = {
    "frames.generated": "Frames captured by every camera during the run.",
    "frames.processed": "Frames that ran on an accelerator (generated = processed + dropped + "
    "failed).",
    "frames.dropped": "Frames dropped at a full accelerator queue.",
    "frames.failed": "Frames lost to an accelerator failure (fleet.groups[].faults.failures).",
    "frames.throttled": "Processed frames served at the thermally throttled speed.",
    "frames.late": "Processed frames whose latency exceeded their group's deadline.",
    "frames.detected": "Processed frames really rendered and detected (1 in detector.detect_every).",
    "latency_ms.p50": "Median capture-to-detection latency of processed frames, ms (from the latency "
    "histogram: within 0.5 % of the exact one, never below the least or above the greatest latency).",
    "latency_ms.p95": "95th percentile latency, ms.",
    "latency_ms.p99": "99th percentile latency, ms.",
    "latency_ms.mean": "Mean latency of processed frames, ms (exact).",
    "latency_ms.max": "Largest latency of a processed frame, ms (exact).",
    "latency_ms.deadline_miss_rate": "(late + dropped + failed) / generated: frames without a detection "
    "in time.",
    "faults.failures": "Accelerator failures that started during the run, over all vehicles.",
    "faults.down_s": "Accelerator time spent failed within the run, summed over vehicles, seconds "
    "(counted at idle power in energy.edge_j).",
    "faults.availability": "1 - down_s / (vehicles x run duration).",
    "energy.edge_j": "Accelerator energy of all vehicles over the run, joules: the accelerators' idle and "
    "busy power, and the host CPU's power while it works for them (energy.host_j).",
    "energy.host_j": "The host CPU's part of energy.edge_j: its active power while it runs the layers the "
    "accelerator cannot and post-processing, joules (0 for a device that is its own host; the host's "
    "idle power is not modelled).",
    "energy.per_frame_mj": "energy.edge_j per processed frame, millijoules (idle energy included).",
    "samples.selected": "Detected frames kept as samples; selected = uploaded + in_flight + queued "
    "+ evicted.",
    "samples.evicted": "Samples dropped by full on-vehicle upload buffers.",
    "accuracy.frames": "Detected frames the accuracy figures are computed on.",
    "accuracy.map50_mean": "mAP@0.5 over all detected frames of the run (VOC all-point AP, "
    "mean over classes).",
    "accuracy.map50_by_condition": "mAP@0.5 per world condition label (e.g. day_clear, night_fog).",
    "accuracy.map50_by_version": "mAP@0.5 per model version, over the frames each version detected.",
    "accuracy.staleness_s": "Mean age at capture of the model each detected frame ran (time since its "
    "release; the shipped model dates from the start), seconds.",
    "samples.uploaded": "Samples whose upload finished before the end of the run.",
    "samples.in_flight": "Samples in an upload still crossing the network at the end.",
    "samples.queued": "Samples still waiting on vehicles at the end.",
    "samples.retained": "Labelled samples in the cloud store at the end (received = labeling.pending_at_end "
    "+ retained + expired + over_capacity).",
    "samples.expired": "Labelled samples dropped by cloud.labeling.retention.max_age.",
    "samples.over_capacity": "Labelled samples dropped by cloud.labeling.retention.max_samples.",
    "samples.by_condition": "Per world condition label: received, pending, labelled, retained, dropped.",
    "labeling.labeler": "Who labelled: 'annotators' or 'teacher'.",
    "labeling.labelled": "Samples labelled during the run.",
    "labeling.pending_at_end": "Samples received but not yet labelled at the end.",
    "labeling.cost_usd": "Price of all labels, US dollars.",
    "labeling.mean_delay_s": "Mean time from arrival in the store to label, seconds (null if none).",
    "labeling.label_precision": "Labels matching a ground-truth box / labels (1 for annotators).",
    "labeling.label_recall": "Ground-truth boxes matched by a label / ground-truth boxes (1 for annotators).",
    "network.uploaded_bytes": "Bytes of sample uploads delivered to the cloud.",
    "network.downloaded_bytes": "Bytes of model downloads delivered to vehicles.",
    "network.upload_in_flight_bytes": "Upload bytes offered but not delivered at the end.",
    "network.download_in_flight_bytes": "Download bytes offered but not delivered at the end.",
    "network.retransmitted_bytes": "Bytes sent again after packet loss (both directions).",
    "network.restarted_bytes": "Progress thrown away by download chunks that restarted after a pause "
    "longer than cloud.rollout.resume_timeout.",
    "network.transfers": "Transfers started (uploads and download chunks).",
    "network.handovers": "Handovers of all vehicles along their routes.",
    "network.coverage_gap_s": "Vehicle-seconds without coverage.",
    "energy.radio_j": "Radio energy of all vehicles (network.radio model per technology), joules.",
    "offload.remote_inference_usd": "Price of every remote inference pool (network.mec, cloud.inference) "
    "rented for the whole run at its accelerators' hourly_price, US dollars; None when one has none.",
    "offload.unpriced_servers": "Accelerator ids of remote inference pools without a sourced hourly_price.",
    "energy.remote_inference_j": "Energy of the remote accelerators serving offloaded frames (MEC "
    "servers, cloud inference), joules.",
    "privacy.offboard_frame_bytes": "Raw camera frame bytes that left vehicles for remote detection "
    "(0 when every group detects onboard).",
    "offload.no_path_frames": "Offloaded frames captured with no path to a server (coverage gap, "
    "handover, a cell without a MEC server): counted in frames.failed.",
    "retraining.jobs": "Training jobs completed.",
    "retraining.jobs_submitted": "Training jobs submitted to a cluster; submitted = jobs + jobs_running + "
    "jobs_queued.",
    "retraining.jobs_running": "Jobs holding a node at the end of the run.",
    "retraining.jobs_queued": "Jobs waiting for a node at the end of the run.",
    "retraining.preemptions": "Spot preemptions of training jobs, over all jobs.",
    "retraining.preempted_lost_s": "Node time thrown away by those preemptions (work since the last "
    "checkpoint), seconds.",
    "retraining.restart_s": "Start-up paid again after preemptions, seconds.",
    "retraining.models_released": "Model versions that passed the validation gate and were rolled out.",
    "retraining.models_rejected": "Model versions the validation gate kept back.",
    "retraining.skipped_over_budget": "Training jobs the daily budget did not allow.",
    "retraining.rollbacks": "Versions the canary rolled back (cloud.rollout.max_regression).",
    "retraining.drift_onsets": "Drifts that start in the run: weather spells, the novelty onset, nightfalls.",
    "retraining.recovered": "Onsets after which most of the fleet came to run a coping model: one whose "
    "held-out mAP on that condition closes half the shipped model's gap to clear day.",
    "retraining.time_to_recover_s": "Mean seconds from an onset to that moment, over recovered onsets "
    "(null if none).",
    "retraining.deployments": "Released versions that at least one vehicle switched to (not counting "
    "rollbacks).",
    "retraining.vehicle_swaps": "Model switches over all vehicles.",
    "retraining.compiles": "Target compiles of released versions (rows of model_compiles).",
    "retraining.compile_s": "Their compile time, summed, seconds (they run in parallel, one node each).",
    "retraining.compile_cost_usd": "Their price at the compile nodes' hourly prices, US dollars.",
    "retraining.cloud_energy_j": "Facility energy (with PUE) of every training job's node time within the "
    "run, finished or not (preempted stays and jobs running at the end included), joules.",
    "retraining.cloud_kwh": "The same in kWh.",
    "retraining.cloud_cost_usd": "Price of the same chip-hours (spot pools at the spot price), US dollars.",
    "retraining.unfinished_cost_usd": "The part of cloud_cost_usd spent on jobs that had not finished by the "
    "end of the run (queued again after a preemption, or still running), US dollars.",
    "run.scenario": "Scenario name.",
    "run.seed": "Seed the run used.",
    "run.mode": "'vectorised' or 'reference'.",
    "run.sim_s": "Simulated seconds.",
    "run.wall_s": "Host seconds the simulation took (with the two waits below, the only fields that "
    "differ between identical runs).",
    "run.training_wait_s": "Host seconds of run.wall_s the simulation waited for real fine-tunes to "
    "finish (a job's model is needed at its simulated completion); 0 without retraining.",
    "run.detection_wait_s": "Host seconds of run.wall_s the simulation waited for real detection "
    "(rendering and ONNX Runtime on worker threads) of the frames an upload tick or the run's end "
    "needed.",
    "groups.<name>.frames.*": "The frames section for one vehicle group.",
    "groups.<name>.latency_ms.*": "The latency_ms section for one vehicle group.",
    "groups.<name>.energy.*": "The energy section for one vehicle group.",
    "groups.<name>.faults.*": "The faults section for one vehicle group.",
    "hardware.accelerator_usd": "Purchase price of every vehicle's edge accelerator (its sourced unit_price "
    "x vehicles), US dollars; null when a device has no sourced price (listed in hardware.unpriced).",
    "hardware.host_usd": "Purchase price of the host computer each accelerator needs (the group's host, else "
    "the device's vehicle_host, else its host_cpu, e.g. the Raspberry Pi under a Hailo-8; 0 for a device "
    "that is its own host), US dollars; null when unpriced.",
    "hardware.fleet_usd": "hardware.accelerator_usd + hardware.host_usd: the fleet's edge hardware cost, "
    "US dollars (remote inference servers are not included).",
    "hardware.unpriced": "Device ids in the fleet without a sourced unit_price.",
    "groups.<name>.hardware.*": "Per group: accelerator_unit_usd, host_cpu, host_unit_usd and the "
    "group's accelerator_usd, host_usd, fleet_usd.",
    "groups.<name>.placement": "Where the group's frames are detected at the start of the run: onboard, "
    "mec or cloud (the scenario's fleet.groups[].placement, or a Python placement policy's first answer).",
    "groups.<name>.placement_s": "Simulated seconds the group spent in each placement open to it "
    "(a Python placement policy may move it; otherwise all in groups.<name>.placement).",
    "groups.<name>.privacy.offboard_frame_bytes": "privacy.offboard_frame_bytes for one vehicle group.",
}
