#!/usr/bin/env python3
"""Time commands in interleaved rounds (A B C, A B C, ...) rather than hyperfine's
A A A, B B B, C C C: on a shared VM whose speed drifts over minutes, consecutive runs of one
command share the drift and bias the comparison. Prints a markdown table: mean ± σ per
command, and per-round (paired) ratios against the reference command.

  rounds.py --rounds 5 --prepare 'rm -rf out' --reference limit \\
      --export out.md 'gymops=gymops backup create' 'limit=pg_dump > /dev/null'

With --alternate every other round runs the commands in reverse (A B, B A, ...), for
benchmarks where running first in a round costs something (PostgreSQL loads: the previous
load's writes). Each command runs under `bash -o pipefail -c`; a failing run stops the
benchmark.
"""
import argparse
import statistics
import subprocess
import sys
import time


def run(command):
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True,
                   stdout=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prepare", default="")
    parser.add_argument("--alternate", action="store_true",
                        help="reverse the order in every other round (A B, B A, ...): cancels "
                             "what running first or second in a round costs")
    parser.add_argument("--reference", required=True, help="name of the command ratios are against")
    parser.add_argument("--baseline", help="name of a command to show speed-ups over (its time / each)")
    parser.add_argument("--export", help="write the markdown table here too")
    parser.add_argument("commands", nargs="+", help="NAME=COMMAND")
    args = parser.parse_args()
    commands = [c.split("=", 1) for c in args.commands]
    names = [name for name, _ in commands]
    for given in (args.reference, args.baseline):
        if given is not None and given not in names:
            sys.exit(f"{given} is not one of the commands: {', '.join(names)}")
    times = {name: [] for name in names}
    for round_ in range(1, args.rounds + 1):
        order = commands[::-1] if args.alternate and round_ % 2 == 0 else commands
        for name, command in order:
            if args.prepare:
                run(args.prepare)
            start = time.monotonic()
            run(command)
            elapsed = time.monotonic() - start
            times[name].append(elapsed)
            print(f"round {round_}/{args.rounds}: {name}: {elapsed:.2f} s", file=sys.stderr)
    reference = times[args.reference]

    def cell(text):
        return text.replace("|", "\\|")

    baseline = times[args.baseline] if args.baseline else None
    header = f"| command | mean ± σ ({args.rounds} interleaved rounds) | min | ratio to {cell(args.reference)} (paired, mean ± σ) |"
    rule = "|---|---|---|---|"
    if baseline:
        header += f" speed-up over {cell(args.baseline)} (paired, mean ± σ) |"
        rule += "---|"
    lines = [header, rule]

    def paired(numerators, denominators):
        ratios = [n / d for n, d in zip(numerators, denominators)]
        sd = statistics.stdev(ratios) if len(ratios) > 1 else 0.0
        return f"{statistics.mean(ratios):.2f} ± {sd:.2f}"

    for name in names:
        series = times[name]
        sd = statistics.stdev(series) if len(series) > 1 else 0.0
        line = (f"| {cell(name)} | {statistics.mean(series):.2f} s ± {sd:.2f} | {min(series):.2f} s "
                f"| {paired(series, reference)} |")
        if baseline:
            line += f" {paired(baseline, series)} |"
        lines.append(line)
    lines.append("")
    lines.append("Per round: " + "; ".join(
        f"{name} " + " / ".join(f"{t:.1f}" for t in times[name]) for name in names))
    table = "\n".join(lines)
    print(table)
    if args.export:
        with open(args.export, "w") as out:
            out.write(table + "\n")


if __name__ == "__main__":
    main()
