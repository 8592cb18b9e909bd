# SPDX-License-Identifier: MIT
"""Redis commands as protocol (RESP) on stdout, for `redis-cli --pipe`:
the benchmarks seed Redis as agents would, without a client library."""
import sys

_out = sys.stdout.buffer


def cmd(*args):
    b = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        b.append(b"$%d\r\n%s\r\n" % (len(a), a))
    _out.write(b"".join(b))
