"""The learned codec: transforms, entropy models, exact parameter path and the model that joins them.

``codec/`` knows tensors, not files: the container lives in :mod:`sdpic.format`.
"""
