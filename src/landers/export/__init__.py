"""Export: a trained agent as a file other runtimes run (ONNX today), in three parts: the
observation inputs (inputs.py), the action outputs (outputs.py) and a format's driver
(onnx_export.py); a second format is a second driver. Imports `landers.policy` and below.
"""
