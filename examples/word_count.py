"""Count words in parallel with Pool.map: each worker counts a chunk of lines, the parent merges.

Run: python examples/word_count.py
"""

import collections
import random
import re

import interpchan

WORDS = "the channel moves items between interpreters and each worker has its own gil".split()


def make_text(lines: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=12)) for _ in range(lines)]


def count_words(lines: list[str]) -> dict[str, int]:
    """Runs in a worker: a plain dict travels back natively (no pickling)."""
    counts: dict[str, int] = collections.defaultdict(int)
    for line in lines:
        for word in re.findall(r"[a-z']+", line.lower()):
            counts[word] += 1
    return dict(counts)


def main() -> None:
    lines = make_text(20_000)
    chunks = [lines[i : i + 1000] for i in range(0, len(lines), 1000)]
    total: collections.Counter[str] = collections.Counter()
    with interpchan.Pool() as pool:  # one own-GIL worker per core
        for counts in pool.map(count_words, chunks):  # results in the order of the chunks
            total.update(counts)
    print("words:", sum(total.values()))
    print("agrees with one thread:", total == collections.Counter(count_words(lines)))
    print("most common:", [word for word, _ in total.most_common(3)])


if __name__ == "__main__":  # workers import this file: without the guard they would start again
    main()
