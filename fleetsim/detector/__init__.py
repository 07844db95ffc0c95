"""The object detector: model, training, export, quantization, inference, evaluation."""
