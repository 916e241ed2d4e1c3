"""Feeds work to a Rust worker pool through an mp manager, then reads the
results back. Standard library only: to Python, the mp manager is a
BaseManager server like any other.

    python3 feed_work.py ADDRESS COUNT   (the authkey, in hex, on stdin)
"""
import sys
from multiprocessing.managers import BaseManager


class WorkManager(BaseManager):
    pass


WorkManager.register('get_tasks')
WorkManager.register('get_results')


def collatz_steps(n):
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def main():
    address, count = sys.argv[1], int(sys.argv[2])
    authkey = bytes.fromhex(sys.stdin.readline().strip())
    manager = WorkManager(address=address, authkey=authkey)
    manager.connect()
    tasks, results = manager.get_tasks(), manager.get_results()
    for i in range(count):
        tasks.put((i, 27 + i))
    tasks.put(None)  # no more work
    steps = {}
    for _ in range(count):
        i, n, s = results.get(timeout=60)
        steps[i] = (n, s)
    assert sorted(steps) == list(range(count)), 'every task once'
    assert all(collatz_steps(n) == s for n, s in steps.values()), 'right answers'
    n, s = max(steps.values(), key=lambda ns: ns[1])
    print('python: %d results from the Rust pool, all checked; longest: %d takes %d steps'
          % (count, n, s), flush=True)


if __name__ == '__main__':
    main()
