"""numpy's `default_rng(seed).permutation(n)`, written in Python, so shuffles need no numpy and give the same order
with it or without it (in the browser, say): training runs bit for bit alike everywhere.

The three pieces numpy chains, each as numpy defines it:
  1. SeedSequence(seed) hashes the seed's 32-bit words into a pool of four and draws 128-bit words from it;
  2. PCG64 (a 128-bit linear congruential generator, state ← state·a + c mod 2¹²⁸, each output the XSL-RR
     permuted high and low halves) starts from two of those words;
  3. shuffle is Fisher–Yates from the end: for i = n−1 … 1, swap i with j drawn uniformly from 0 … i by masking
     32-bit outputs (each 64-bit output serves two) to i's bit length and drawing again while j > i.
tests/test_no_numpy.py checks the orders against numpy's for many seeds and sizes.
"""

from __future__ import annotations

import operator
import secrets

__all__ = ["permutation"]

MASK32, MASK64, MASK128 = (1 << 32) - 1, (1 << 64) - 1, (1 << 128) - 1
MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645  # PCG's default 128-bit multiplier
# SeedSequence's hashing constants.
INIT_A, MULT_A, INIT_B, MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
MIX_MULT_L, MIX_MULT_R = 0xCA01F9DD, 0x4973F715
POOL_SIZE = 4


def _seed_pool(seed: int) -> list[int]:
    """SeedSequence(seed).pool: the seed's 32-bit words (least significant first) mixed into four words."""
    words = [seed & MASK32]
    while seed >> 32:
        seed >>= 32
        words.append(seed & MASK32)
    multiplier = INIT_A

    def hashmix(value: int) -> int:
        nonlocal multiplier
        value ^= multiplier
        multiplier = multiplier * MULT_A & MASK32
        value = value * multiplier & MASK32
        return value ^ value >> 16

    def mix(x: int, y: int) -> int:
        result = (MIX_MULT_L * x - MIX_MULT_R * y) & MASK32
        return result ^ result >> 16

    pool = [hashmix(words[i] if i < len(words) else 0) for i in range(POOL_SIZE)]
    for source in range(POOL_SIZE):
        for target in range(POOL_SIZE):
            if source != target:
                pool[target] = mix(pool[target], hashmix(pool[source]))
    for word in words[POOL_SIZE:]:
        for target in range(POOL_SIZE):
            pool[target] = mix(pool[target], hashmix(word))
    return pool


def _state_words(pool: list[int], count: int) -> list[int]:
    """SeedSequence.generate_state(count, uint64): 64-bit words, each two 32-bit draws (low word first)."""
    multiplier, halves = INIT_B, []
    for i in range(2 * count):
        value = pool[i % POOL_SIZE] ^ multiplier
        multiplier = multiplier * MULT_B & MASK32
        value = value * multiplier & MASK32
        halves.append(value ^ value >> 16)
    return [halves[2 * i] | halves[2 * i + 1] << 32 for i in range(count)]


class _PCG64:
    """numpy's PCG64 bit generator: 64-bit outputs, and 32-bit ones that use each 64-bit output twice."""

    def __init__(self, seed: int):
        words = _state_words(_seed_pool(seed), 4)
        start, stream = words[0] << 64 | words[1], words[2] << 64 | words[3]
        self.increment = (stream << 1 | 1) & MASK128
        self.state = 0
        self._advance()
        self.state = (self.state + start) & MASK128
        self._advance()
        self.spare: int | None = None  # the high half of the last 64-bit output, not yet used

    def _advance(self) -> None:
        self.state = (self.state * MULTIPLIER + self.increment) & MASK128

    def next64(self) -> int:
        self._advance()
        rotation = self.state >> 122
        folded = (self.state >> 64 ^ self.state) & MASK64
        return (folded >> rotation | folded << (64 - rotation)) & MASK64

    def next32(self) -> int:
        if self.spare is not None:
            value, self.spare = self.spare, None
            return value
        value = self.next64()
        self.spare = value >> 32
        return value & MASK32

    def interval(self, largest: int) -> int:
        """Uniform on 0 … largest: masked draws, redrawn while above `largest`."""
        mask = (1 << largest.bit_length()) - 1
        draw = self.next32 if largest <= MASK32 else self.next64
        while True:
            value = draw() & mask
            if value <= largest:
                return value


def permutation(n: int, seed: int | None = None) -> list[int]:
    """0 … n−1 shuffled exactly as `numpy.random.default_rng(seed).permutation(n)` (seed None: fresh entropy)."""
    seed = secrets.randbits(128) if seed is None else operator.index(seed)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    generator, order = _PCG64(seed), list(range(n))
    for i in range(n - 1, 0, -1):
        j = generator.interval(i)
        order[i], order[j] = order[j], order[i]
    return order
