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


def _random_symbols(seed: int, n: int) -> tuple:
    """The Gaussian tables, their coder, and ``n`` (table id, symbol) pairs drawn from the tables."""
    freqs, half = gaussian_tables()
    lengths = 2 * half + 2
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, len(lengths), n)
    symbols = np.array([rng.choice(lengths[t], p=freqs[t, : lengths[t]] / TABLE_TOTAL) for t in ids])
    return freqs, half, lengths, TableCoder(freqs, lengths), ids, symbols


def test_coded_size_is_close_to_the_information_content() -> None:
    """Real bits within 1% (+ a word) of -log2 of the table probabilities: the coder adds ~no overhead."""
    freqs, _half, _lengths, coder, ids, symbols = _random_symbols(seed=0, n=20000)
    information = -np.log2(freqs[ids, symbols] / TABLE_TOTAL).sum()
    data = coder.encode(symbols, ids)
    assert len(data) * 8 <= information * 1.01 + 64
    assert np.array_equal(coder.decode(data, ids), symbols)


def test_decode_values_maps_symbols_and_finds_escapes() -> None:
    """decode_values: index - offset per table, and the escapes' positions, as decode() would give them."""
    _freqs, half, lengths, coder, ids, symbols = _random_symbols(seed=1, n=5000)
    symbols[::97] = lengths[ids[::97]] - 1  # force escapes
    data = coder.encode(symbols, ids)
    values, escaped = coder.decode_values(data, ids, half)
    plain = coder.decode(data, ids)
    assert np.array_equal(plain, symbols)
    assert np.array_equal(escaped, np.flatnonzero(symbols == lengths[ids] - 1))
    inside = np.ones(len(ids), dtype=bool)
    inside[escaped] = False
    assert np.array_equal(values[inside], (symbols - half[ids])[inside])


def test_grouping_order_is_the_stable_sort_by_table() -> None:
    """The coding order (part of the format) is a stable sort by table id, whatever the key width."""
    freqs, half = gaussian_tables()
    coder = TableCoder(freqs, 2 * half + 2)
    ids = np.random.default_rng(2).integers(0, len(half), 10000)
    order, bounds = coder._groups(ids)
    assert np.array_equal(order, np.argsort(ids, kind="stable"))
    assert np.array_equal(bounds, np.searchsorted(ids[order], np.arange(len(half) + 1)))
