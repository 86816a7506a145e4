#!/usr/bin/env python3
"""prelabel over many videos on a Ray cluster: one Ray task per shard, retried when it fails.

    python prelabel_ray.py --shards 8 --out /shared/labels /shared/clips -- --classes person
    python prelabel_ray.py --address 10.0.0.5:6379 --shards 8 --gpus-per-task 1 --out OUT IN...

Each task runs `prelabel run INPUT... --out OUT --shard-index I --shard-count N [options]` on
whichever node Ray gives it, so INPUT and OUT must be paths every node sees (a shared file
system) and `prelabel` must be on every node (--prelabel names it). A task whose prelabel exits
non-zero raises, and Ray runs it again, up to --retries more times; rerunning a shard is safe
(videos already labelled are skipped, a per-video claim keeps two attempts off one video).
When every task has ended, `prelabel report OUT` merges the shard reports, and this script
exits with its status: 0 when every video is labelled, non-zero when some failed or are missing
(run the script again to retry just those).

Ray passes no shard index to a task: the index is the task's argument, the count is --shards.
"""
import argparse
import subprocess
import sys

import ray


class ShardFailed(Exception):
    """prelabel exited non-zero for one shard (raised so that Ray retries the task)."""


def label_shard(prelabel, inputs, out, index, count, options):
    cmd = [prelabel, "run", *inputs, "--out", out, "--shard-index", str(index),
           "--shard-count", str(count), *options]
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise ShardFailed(f"shard {index}/{count}: prelabel exited {done.returncode}: {tail}")
    return index


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Options after `--` go to `prelabel run` unchanged.")
    p.add_argument("inputs", nargs="+", help="videos or folders, as for `prelabel run`")
    p.add_argument("--out", required=True, help="output folder on a shared file system")
    p.add_argument("--shards", type=int, required=True, help="number of shards (Ray tasks)")
    p.add_argument("--address", default="auto", help="Ray cluster to join (default: auto)")
    p.add_argument("--prelabel", default="prelabel", help="the prelabel binary on the nodes")
    p.add_argument("--retries", type=int, default=2, help="extra attempts per shard (default 2)")
    p.add_argument("--cpus-per-task", type=float, default=1)
    p.add_argument("--gpus-per-task", type=float, default=0,
                   help="set to 1 on GPU nodes (with no GPU in the cluster a task would wait forever)")
    ours, _, theirs = _split(argv)
    args = p.parse_args(ours)
    if args.shards < 1:
        p.error("--shards must be at least 1")
    args.options = theirs
    return args


def _split(argv):
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], "--", argv[i + 1:]
    return argv, "", []


def main(argv):
    args = parse_args(argv)
    ray.init(address=args.address, log_to_driver=False)
    task = ray.remote(label_shard).options(
        num_cpus=args.cpus_per_task, num_gpus=args.gpus_per_task,
        max_retries=args.retries, retry_exceptions=True)
    pending = {task.remote(args.prelabel, args.inputs, args.out, i, args.shards, args.options): i
               for i in range(args.shards)}
    failed = []
    for ref, index in pending.items():
        try:
            ray.get(ref)
        except Exception as e:  # the last attempt's error, after every retry
            failed.append(index)
            print(f"prelabel_ray: shard {index} failed after {args.retries + 1} attempts: {e}",
                  file=sys.stderr)
    ray.shutdown()
    if failed:
        print(f"prelabel_ray: failed shards: {','.join(map(str, failed))}", file=sys.stderr)
    # The report, not the task results, decides: it also sees videos no shard claimed.
    return subprocess.run([args.prelabel, "report", args.out]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
