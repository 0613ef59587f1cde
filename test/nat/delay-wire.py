"""A delaying wire between two TUN devices, where the kernel has no netem qdisc.

    python3 delay-wire.py NAME_A NAME_B DELAY_MS

Creates TUN devices NAME_A and NAME_B in the current network namespace (the NAT lab then moves one
into a router's namespace), prints "ready", and copies every IP packet from one to the other
DELAY_MS later, in order. Like netem's default, at most 1000 packets wait; more are dropped.
Runs until killed.
"""
import fcntl
import heapq
import os
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
LIMIT = 1000


def tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


a = tun(sys.argv[1])
b = tun(sys.argv[2])
delay = float(sys.argv[3]) / 1000
other = {a: b, b: a}
waiting = []
seq = 0
print("ready", flush=True)

while True:
    timeout = max(0.0, waiting[0][0] - time.monotonic()) if waiting else None
    readable, _, _ = select.select([a, b], [], [], timeout)
    now = time.monotonic()
    for fd in readable:
        for _ in range(256):
            try:
                packet = os.read(fd, 65535)
            except BlockingIOError:
                break
            if len(waiting) < LIMIT:
                heapq.heappush(waiting, (now + delay, seq, other[fd], packet))
                seq += 1
    now = time.monotonic()
    while waiting and waiting[0][0] <= now:
        _, _, out, packet = heapq.heappop(waiting)
        try:
            os.write(out, packet)
        except OSError:
            pass
