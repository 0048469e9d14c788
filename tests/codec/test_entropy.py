"""Entropy tables: the contract the coder relies on, and information bounds."""

from __future__ import annotations

import numpy as np
import torch

from sdpic.codec.coder import TableCoder
from sdpic.codec.entropy import TABLE_TOTAL, FactorizedPrior, GaussianConditional, gaussian_tables, quantize_pmf


def test_gaussian_tables_obey_the_contract() -> None:
    freqs, half = gaussian_tables()
    for row, r in zip(freqs, half, strict=True):
        used = row[: 2 * r + 2]
        assert used.min() >= 1 and used.sum() == TABLE_TOTAL
        assert np.all(row[2 * r + 2:] == 0)


def test_quantize_pmf_keeps_every_symbol_codable() -> None:
    freqs = quantize_pmf(np.array([1.0, 0.0, 1e-12, 3.0]))
    assert freqs.min() >= 1 and freqs.sum() == TABLE_TOTAL


def test_factorized_prior_tables_obey_the_contract() -> None:
    prior = FactorizedPrior(4)
    prior.build_tables()
    freqs = prior.table_freqs.numpy()
    assert np.all(freqs >= 1) and np.all(freqs.sum(axis=1) == TABLE_TOTAL)


def test_gaussian_likelihood_sums_to_one_over_integers() -> None:
    values = torch.arange(-60, 61, dtype=torch.float32)
    like = GaussianConditional()(values, torch.zeros_like(values), torch.full_like(values, 3.0))
    assert abs(float(like.sum()) - 1.0) < 1e-4


def test_coded_size_is_close_to_the_information_content() -> None:
    """Real bits within 1% (+ a word) of -log2 of the table probabilities: the coder adds ~no overhead."""
    freqs, half = gaussian_tables()
    lengths = 2 * half + 2
    coder = TableCoder(freqs, lengths)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, len(lengths), 20000)
    symbols = np.array([rng.choice(lengths[t], p=freqs[t, : lengths[t]] / TABLE_TOTAL) for t in ids])
    information = -np.log2(freqs[ids, symbols] / TABLE_TOTAL).sum()
    data = coder.encode(symbols, ids)
    assert len(data) * 8 <= information * 1.01 + 64
    assert np.array_equal(coder.decode(data, ids), symbols)
