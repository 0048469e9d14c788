"""Thin wrapper over constriction's ANS coder for symbols grouped by integer frequency table.

Symbols are coded group by group (one group per table row, ascending table id, array order inside a
group) so each group uses one fixed categorical model; the decoder knows every symbol's table id
before decoding, so it forms the same groups. Values outside a table's support are coded as the
escape symbol (last entry) and carried raw, in the same order, by the caller.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from .entropy import TABLE_TOTAL


class TableCoder:
    """Codes symbol indices with rows of an integer frequency table (see entropy.py's contract)."""

    def __init__(self, freqs: np.ndarray, lengths: np.ndarray) -> None:
        import constriction

        self._constriction = constriction
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.models = [
            constriction.stream.model.Categorical(freqs[t, : self.lengths[t]].astype(np.float64) / TABLE_TOTAL,
                                                  perfect=False)
            for t in range(len(self.lengths))
        ]

    def encode(self, indices: np.ndarray, table_ids: np.ndarray) -> bytes:
        """indices[i] in [0, lengths[table_ids[i]]) -> compressed bytes (big-endian 32-bit words)."""
        coder = self._constriction.stream.stack.AnsCoder()
        order, bounds = self._groups(table_ids)
        syms_sorted = indices[order].astype(np.int32)
        for t in range(len(self.lengths) - 1, -1, -1):  # ANS is a stack: encode in reverse decode order
            lo, hi = bounds[t], bounds[t + 1]
            if hi > lo:
                coder.encode_reverse(syms_sorted[lo:hi], self.models[t])
        return coder.get_compressed().astype(">u4").tobytes()

    def decode(self, data: bytes, table_ids: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`encode` given the same table ids; raises FormatError on undecodable data."""
        order, _, out_sorted = self._decode_sorted(data, table_ids)
        out = np.empty_like(out_sorted)
        out[order] = out_sorted
        return out

    def decode_values(self, data: bytes, table_ids: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decode and map symbol indices to values: ``index - offsets[table]`` (int64) where the symbol is in
        its table's support, and the positions (ascending) of escape symbols, whose values the caller
        fills. The same symbols as :meth:`decode`, without a per-symbol gather of the offsets."""
        order, bounds, out_sorted = self._decode_sorted(data, table_ids)
        escaped = []
        for t in range(len(self.lengths)):
            lo, hi = bounds[t], bounds[t + 1]
            if hi > lo:
                group = out_sorted[lo:hi]
                escaped.append(lo + np.flatnonzero(group == self.lengths[t] - 1))
                group -= offsets[t]
        values = np.empty_like(out_sorted)
        values[order] = out_sorted
        escape_positions = np.sort(order[np.concatenate(escaped)]) if escaped else np.empty(0, dtype=np.int64)
        return values, escape_positions

    def _decode_sorted(self, data: bytes, table_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(data) % 4:
            raise FormatError("entropy-coded section length is not a multiple of 4")
        words = np.frombuffer(data, dtype=">u4").astype(np.uint32)
        try:
            coder = self._constriction.stream.stack.AnsCoder(words)
        except Exception as exc:  # constriction rejects e.g. a zero last word
            raise FormatError(f"entropy-coded section is invalid ({exc})") from None
        order, bounds = self._groups(table_ids)
        out_sorted = np.empty(len(table_ids), dtype=np.int64)
        try:
            for t in range(len(self.lengths)):
                lo, hi = bounds[t], bounds[t + 1]
                if hi > lo:
                    out_sorted[lo:hi] = coder.decode(self.models[t], int(hi - lo))
        except Exception as exc:
            raise FormatError(f"entropy-coded section cannot be decoded ({exc})") from None
        return order, bounds, out_sorted

    def _groups(self, table_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The coding order (a stable sort by table id) and each table's [start, end) in it. Ids fit a byte
        (or two), where numpy's stable sort is a radix sort: ~8x faster than sorting int64 keys."""
        n_tables = len(self.lengths)
        keys = table_ids.astype(np.uint8 if n_tables <= 256 else np.uint16 if n_tables <= 65536 else np.int64)
        order = np.argsort(keys, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=n_tables))])
        return order, bounds


def pack_escapes(values: list[np.ndarray]) -> bytes:
    """Raw escaped values as big-endian int32."""
    if not values:
        return b""
    return np.concatenate(values).astype(">i4").tobytes()


def unpack_escapes(data: bytes) -> np.ndarray:
    if len(data) % 4:
        raise FormatError("escape section length is not a multiple of 4")
    return np.frombuffer(data, dtype=">i4").astype(np.int64)


def min_symbol_bits(freqs: np.ndarray) -> np.ndarray:
    """Per table row: -log2 of its largest probability, the least information one symbol carries."""
    return -np.log2(freqs.max(axis=1).astype(np.float64) / TABLE_TOTAL)


def check_stream_length(data: bytes, min_bits: float, what: str) -> None:
    """An ANS stream holds at least the information of its symbols (measured: 20-40 bits more, the final
    coder state), so a stream shorter than the least its symbols can cost is truncated or forged. Why
    check: the coder decodes an exhausted stream as endless valid symbols, so without this a 300-byte
    file that claims 16384x10922 pixels would run a full-size decode (minutes, gigabytes). With it a
    stream buys at most ~640 pixels per byte (the z tables cost >= 51 bits per 64x64 block). Margins:
    64 bits and 0.1% for the coder's own rounding (never observed)."""
    if 8 * len(data) + 64 < min_bits * (1 - 2**-10):
        raise FormatError(f"{what} stream is {len(data)} bytes but its symbols need at least "
                          f"{min_bits / 8:.0f}: the stream is truncated or its header's size is wrong")
