"""The mutation score of each core module, from what `mutmut run` left in mutants/.

Reads `mutmut results --all true` and prints a Markdown table: per module, how many mutants
were killed (a test failed, or the mutant timed out), survived, and reached by no fast test
(counted as survivors: nothing would notice them). `make mutate` prints it after a run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

LINE = re.compile(r"^\s*(?P<module>[\w.]+)\.x[_ǁ]\S*__mutmut_\d+: (?P<status>.+)$")
KILLED = {"killed", "timeout"}


def main() -> int:
    mutmut = Path(sys.executable).parent / "mutmut"
    out = subprocess.run([str(mutmut), "results", "--all", "true"], capture_output=True,
                         text=True, check=True).stdout
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for line in out.splitlines():
        if match := LINE.match(line):
            counts[match["module"]][match["status"]] += 1
    if not counts:
        print("no results: run `make mutate` first", file=sys.stderr)
        return 1
    print("| module | mutants | killed | survived | no test | score |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    total: Counter[str] = Counter()
    for module in sorted(counts):
        total.update(counts[module])
        print(row(module, counts[module]))
    print(row("**all**", total))
    unfinished = sum(n for s, n in total.items() if s not in KILLED | {"survived", "no tests"})
    if unfinished:
        print(f"\n{unfinished} mutants not checked or not finished: {dict(total)}")
    return 0


def row(name: str, c: Counter[str]) -> str:
    killed = sum(c[s] for s in KILLED)
    everything = sum(c.values())
    score = 100.0 * killed / everything if everything else 100.0
    return (f"| {name} | {everything} | {killed} | {c['survived']} | {c['no tests']} "
            f"| {score:.1f} % |")


if __name__ == "__main__":
    sys.exit(main())
