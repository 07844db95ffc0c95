"""What the detector network takes and gives, named once for the code that trains, exports,
decodes and runs it. Nothing here needs torch, so running a detector file does not load it.

``fleetsim.scenario.model_file`` checks a scenario's model file against the same names (the
scenario layer imports no detector code).
"""

INPUT = "frames"
"""The network's input: float32 frames (batch, 3, height, width) in [0, 1]."""
OUTPUTS = ("heatmap", "size", "offset")
"""Its head maps, each (batch, channels, height / STRIDE, width / STRIDE): a heatmap per class, box
size and centre offset."""
OPSET = 17
"""The ONNX opset its files are exported at."""
STRIDE = 4
"""Frame pixels per head-map cell: the network's first two blocks halve the resolution."""
