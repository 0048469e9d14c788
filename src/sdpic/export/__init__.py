"""A model as other decoders read it: the web decoder's bundle (``sdpic export onnx``) and the Python
decoder's reference record of a stream (``sdpic export reference``), which those decoders must match.

- :mod:`sdpic.export.web`: a manifest (JSON), the integer tables and exact-network weights (one binary
  file) and the synthesis transform as ONNX (fp32, and fp16 weights), for the JavaScript decoder in
  ``web/``;
- :mod:`sdpic.export.reference`: hashes of the symbols, latents and pixels the Python decoder gets from a
  stream (or the error it raises), and the fixture set the web package's tests compare against.
"""
