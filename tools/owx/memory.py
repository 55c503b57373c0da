"""memory.py: the resident memory of processes, read from /proc, for the tests and benchmarks
that bound it (t/test_streams.py, bench/stream_bench.py, bench/websocket_bench.py)."""

import threading


def rss_kb(pid):
    """VmRSS of pid in KiB; None when it is gone (or a kernel thread)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssPeak:
    """The highest RSS of each process ({label: pid}) while the block runs, sampled every
    `every` seconds."""

    def __init__(self, pids, every=0.05):
        self.pids = {k: p for k, p in pids.items() if p}
        self.every = every
        self.base = {k: rss_kb(p) for k, p in self.pids.items()}
        self.peak = dict(self.base)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self):
        while not self.done.wait(self.every):
            for k, p in self.pids.items():
                v = rss_kb(p)
                if v is not None and self.peak[k] is not None and v > self.peak[k]:
                    self.peak[k] = v

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()

    def growth_mb(self):
        """{label: peak - before, MiB} of the processes that were there before."""
        return {k: (self.peak[k] - self.base[k]) / 1024.0 for k in self.pids
                if self.base[k] is not None}

    def summary(self):
        return {k: {"before_kb": self.base[k], "peak_kb": self.peak[k]}
                for k in self.pids if self.base[k] is not None}
