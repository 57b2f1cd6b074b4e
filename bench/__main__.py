"""`make bench`: runs every bench/bench_*.py module's main(), each printing its own table
with ratios against a baseline measured in the same run, and writing bench/results/."""

import importlib
import pathlib
import sys


def main(argv: list[str]) -> int:
    wanted = set(argv)
    here = pathlib.Path(__file__).parent
    names = sorted(p.stem for p in here.glob("bench_*.py"))
    for name in names:
        if wanted and name.removeprefix("bench_") not in wanted:
            continue
        print(f"== {name.removeprefix('bench_')}", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
