"""Evaluation harness: baseline codec wrappers, the RD runner, BD-rate, reports and task benchmarks.

Entry points: ``sdpic bench rd`` / ``sdpic bench task`` / ``sdpic bench report`` (see :mod:`.cli`), or
:func:`sdpic.bench.rd.run_rd` and :func:`sdpic.bench.bdrate.bd_rate` from Python. Heavy imports (torch,
matplotlib, onnxruntime, codec libraries) happen lazily inside the functions that need them.
"""
