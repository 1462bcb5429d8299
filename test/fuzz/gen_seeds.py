#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (test/fuzz/corpus/).

The seeds are committed; run this only to regenerate them after changing
an input layout (see the comments at the top of fuzz_codec.c,
fuzz_engine.c and fuzz_bridge.c). Usage: python3 test/fuzz/gen_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u8(v):
    return struct.pack('<B', v)


def u16(v):
    return struct.pack('<H', v)


def u32(v):
    return struct.pack('<I', v)


# [MS-SMBD] 2.2 messages.
def neg_req(minv=0x100, maxv=0x100, credits=255, pss=1364, mrs=1364,
            mfs=1048576):
    return struct.pack('<HHHHIII', minv, maxv, 0, credits, pss, mrs, mfs)


def neg_rsp(credits_req=255, granted=255, status=0, mrw=8388608, pss=1364,
            mrs=1364, mfs=1048576, negotiated=0x100):
    return struct.pack('<HHHHHHIIIII', 0x100, 0x100, negotiated, 0,
                       credits_req, granted, status, mrw, pss, mrs, mfs)


def data_msg(payload=b'', cr=255, cg=0, flags=0, remaining=0, offset=None):
    if offset is None:
        offset = 24 if payload else 0
    hdr = struct.pack('<HHHHIII', cr, cg, flags, 0, remaining, offset,
                      len(payload))
    if payload:
        hdr += b'\0' * (offset - 20)
    return hdr + payload


def descs(*entries):
    return b''.join(struct.pack('<QII', o, t, n) for (o, t, n) in entries)


def codec_seed(msg, max_count=16, max_total=8388608, shift=0):
    return u8(max_count) + u32(max_total) + u8(shift) + msg


# fuzz_engine script opcodes (enum fz_op).
OP_RECV_RAW, OP_RECV_DATA, OP_RECV_NEGOTIATE, OP_SEND_COMPLETE, OP_ADVANCE, \
    OP_SUBMIT, OP_CORK, OP_UNCORK, OP_RECV_BUFFERS, OP_INJECT, \
    OP_EXPIRY = range(11)

RESPONDER, AUTO_NEG, SMALL = 1, 2, 4


def flags(role=0, auto=False, small=False, reentry=0, pool=False):
    return u8(role | (AUTO_NEG if auto else 0) | (SMALL if small else 0) |
              (reentry << 3) | (0x20 if pool else 0))


def settings(b=(0, 0, 0, 0, 0, 0)):
    return bytes(b)


def raw(msg):
    return u8(OP_RECV_RAW) + u16(len(msg)) + msg


def data(cr=31, granted=4, fl=0, length=100, sel=0, rem=b''):
    return u8(OP_RECV_DATA) + u8(cr) + u8(granted) + u8(fl) + u16(length) + \
        u8(sel) + rem


def complete(n=255 - 1):
    return u8(OP_SEND_COMPLETE) + u8(n)


def advance(ms, scale=0):
    return u8(OP_ADVANCE) + u16(ms) + u8(scale)


def submit(size, scale=0, split=0, cuts=(0, 0, 0)):
    return u8(OP_SUBMIT) + u16(size) + u8(scale) + u8(split) + \
        b''.join(u16(c) for c in cuts)


def recv_buffers(limit):
    return u8(OP_RECV_BUFFERS) + u8(limit)


def inject(which, arg=0):
    return u8(OP_INJECT) + u8(which) + u8(arg)


ENGINE = {
    # Initiator: default settings, a well-formed response, then data both
    # ways and completions.
    'initiator-data': flags(auto=True) + settings() + bytes([7, 5 | 5 << 3,
                                                             7, 8]) +
    data(length=300) + complete(10) + submit(1000) + complete(10) +
    data(length=50, fl=1) + complete(10),
    # Responder: a well-formed request, then a message in three
    # fragments.
    'responder-fragments': flags(role=RESPONDER, auto=True) + settings() +
    bytes([15, 5 | 5 << 3 | 3 << 6, 3, 0]) +
    data(length=1000, sel=0x40, rem=u16(1500)) + data(length=1000) +
    data(length=1000) + complete(10),
    # The same with an empty message (a credit grant, RemainingDataLength
    # 0) between two fragments, as ksmbd sends it: no fragment.
    'responder-empty-between-fragments': flags(role=RESPONDER, auto=True) +
    settings() + bytes([15, 5 | 5 << 3 | 3 << 6, 3, 0]) +
    data(length=1000, sel=0x40, rem=u16(1500)) +
    data(length=0, granted=2, sel=0x80, rem=u16(0)) + data(length=1000) +
    data(length=1000) + complete(10),
    # Raw negotiate request bytes through the decoder (responder).
    'responder-raw-negotiate': flags(role=RESPONDER) + settings() +
    raw(neg_req(credits=8)) + data(length=64, granted=3) + complete(4),
    # Raw negotiate response bytes (initiator).
    'initiator-raw-negotiate': flags() + settings() +
    raw(neg_rsp(credits_req=4, granted=4)) + submit(3000, split=2,
                                                    cuts=(100, 2000, 0)) +
    complete(10) + data(length=200, granted=2) + complete(10),
    # Small settings: 128-byte messages, few credits, keepalive timers.
    'initiator-small-keepalive': flags(auto=True, small=True) +
    settings((0, 0, 1, 1, 1, 0x10)) + bytes([1, 0, 1, 0]) +
    submit(600, split=3, cuts=(10, 10, 300)) + complete(1) +
    data(length=50, granted=2) + complete(5) + advance(60) + complete(5) +
    advance(30) + data(length=10, granted=1) + advance(100),
    # Negotiate timeout.
    'responder-negotiate-timeout': flags(role=RESPONDER, small=True) +
    settings((0, 0, 0, 0, 0, 0)) + advance(20),
    # Responder refuses versions without 1.0 (3.1.5.3), then completes
    # the failure response.
    'responder-version-failure': flags(role=RESPONDER) + settings() +
    raw(neg_req(minv=0x200, maxv=0x300)) + complete(1),
    # Cork a batch of receives, then uncork.
    'responder-cork': flags(role=RESPONDER, auto=True) + settings() +
    bytes([15, 5 | 5 << 3, 0, 0]) + u8(OP_CORK) + data(length=10) +
    data(length=20, fl=1) + data(length=30) + u8(OP_UNCORK) + complete(10),
    # A limited receive pool, then more buffers.
    'initiator-pool-limit': flags(auto=True, small=True, pool=True) +
    settings((6, 6, 3, 3, 3, 0)) + bytes([3, 5 | 5 << 3, 3, 0]) +
    data(length=40, granted=1) + recv_buffers(3) + data(length=40) +
    recv_buffers(255) + complete(10),
    # Submit from inside deliver.
    'responder-reentry': flags(role=RESPONDER, auto=True, reentry=1) +
    settings() + bytes([15, 5 | 5 << 3, 0, 0]) + data(length=100) +
    data(length=100, granted=5) + complete(10),
    # A message as large as the peer's MaxFragmentedSize.
    'initiator-max-fragmented': flags(auto=True) + settings() +
    bytes([15, 6 | 6 << 3, 15, 0]) + submit(0, scale=7) + complete(200) +
    data(length=10, granted=15) + complete(200),
    # Faults: a failed send, then a transport error.
    'initiator-send-failure': flags(auto=True) + settings() +
    bytes([7, 5 | 5 << 3, 7, 0]) + inject(0) + submit(100) + inject(2, 3),
    # Regression: with receive_credit_max 65535 the engine granted the
    # peer a 65536th credit (the extra receive of 3.1.5.9 for the last
    # send credit), which its own credit-overflow check refuses.
    'responder-credit-limit': flags(role=RESPONDER, auto=True, small=True) +
    settings((0, 6, 0, 0x80, 7, 0x0f)) + bytes([0, 45, 0, 0x30]) +
    data(cr=0xc0, granted=2, length=10) + submit(200),
    # 8192-byte receives: a fragmented message of 70000 bytes, then one of
    # MaxFragmentedSize, so the reassembly buffer grows to its limit.
    'responder-reassembly-grow': flags(role=RESPONDER, auto=True,
                                       small=True) +
    settings((0, 7, 0, 7, 7, 0x0f)) + bytes([15, 7 | 7 << 3, 0, 0]) +
    data(length=0xffff, sel=0x80, rem=u16((70000 - 8168) // 4)) +
    data(length=0xffff) * 8 + complete(200) +
    data(length=0xffff, sel=0x80, rem=u16((131072 - 8168) // 4)) +
    data(length=0xffff) * 16 + complete(200),
}

CODEC = {
    'negotiate-request': codec_seed(neg_req()),
    'negotiate-response': codec_seed(neg_rsp()),
    'data-empty': codec_seed(data_msg(cr=10, cg=5)),
    'data-payload': codec_seed(data_msg(b'SMB2' + bytes(range(60)), cg=1,
                                        flags=1)),
    'data-fragment': codec_seed(data_msg(b'x' * 40, remaining=4096)),
    'data-offset-32': codec_seed(data_msg(b'y' * 16, offset=32)),
    'data-bad-offset': codec_seed(data_msg(b'z' * 16, offset=20)),
    'descriptors-one': codec_seed(descs((0x1000, 0x1234, 65536))),
    'descriptors-three': codec_seed(descs((0, 1, 4096), (8192, 2, 4096),
                                          (1 << 40, 3, 1)), max_count=3),
    'descriptors-zero-length': codec_seed(descs((0, 1, 4096), (0, 2, 0))),
    'descriptors-too-large': codec_seed(descs((0, 1, 0xffffffff),
                                              (0, 2, 0xffffffff)),
                                        max_total=0xffffffff, shift=1),
}


# fuzz_bridge: max_descs (1 byte), max_total (4 bytes), then one SMB2
# transport message ([MS-SMB2] 2.2).
def smb2_hdr(command, mid=1, flags=0, next_command=0, status=0):
    return (b'\xfeSMB' + u16(64) + u16(1) + u32(status) + u16(command) +
            u16(1) + u32(flags) + u32(next_command) + struct.pack('<Q', mid) +
            u32(0) + u32(1) + struct.pack('<Q', 0x42) + b'\0' * 16)


def rw_fixed(command, channel, length=0, remaining=0, chinfo=b'',
             data_offset=0x70, data=b''):
    if command == 8:  # READ ([MS-SMB2] 2.2.19)
        fixed = (u16(49) + u8(0) + u8(0) + u32(length) +
                 struct.pack('<Q', 0) + b'\1' * 16 + u32(0) + u32(channel) +
                 u32(remaining) + u16(0x70 if chinfo else 0) +
                 u16(len(chinfo)))
    else:  # WRITE ([MS-SMB2] 2.2.21)
        fixed = (u16(49) + u16(data_offset) + u32(length) +
                 struct.pack('<Q', 0) + b'\1' * 16 + u32(channel) +
                 u32(remaining) + u16(0x70 if chinfo else 0) +
                 u16(len(chinfo)) + u32(0))
    assert len(fixed) == 48
    return fixed + (chinfo or data)


def bridge_seed(msg, max_descs=16, max_total=8388608):
    return u8(max_descs) + u32(max_total) + msg


def read_rsp(n, remaining=0, status=0):
    return (smb2_hdr(8, flags=1, status=status) + u16(17) + u8(0x50) + u8(0) +
            u32(n) + u32(remaining) + u32(0) + b'\x5a' * n)


def negotiate_rsp(dialect):
    return (smb2_hdr(0, flags=1) + u16(65) + u16(1) + u16(dialect) + u16(0) +
            b'\2' * 16 + u32(0x7f) + u32(8388608) + u32(8388608) +
            u32(8388608) + b'\0' * 16 + u16(0x80) + u16(0) + u32(0))


RDMA_READ = smb2_hdr(8) + rw_fixed(8, 1, length=8192,
                                   chinfo=descs((0x1000, 7, 4096),
                                                (0x9000, 8, 4096)))
RDMA_WRITE = smb2_hdr(9) + rw_fixed(9, 2, remaining=4096,
                                    chinfo=descs((0x1000, 7, 4096)),
                                    data_offset=0)
INLINE_WRITE = smb2_hdr(9) + rw_fixed(9, 0, length=100, data=b'w' * 100)
INLINE_READ = smb2_hdr(8) + rw_fixed(8, 0, length=65536)


def compound(*pdus):
    out = b''
    for i, p in enumerate(pdus):
        if i + 1 < len(pdus):
            p = p + b'\0' * (-len(p) % 8)
            p = p[:20] + u32(len(p)) + p[24:]
        out += p
    return out


BRIDGE = {
    'read-rdma': bridge_seed(RDMA_READ),
    'write-rdma': bridge_seed(RDMA_WRITE),
    'write-rdma-31-descriptors': bridge_seed(
        smb2_hdr(9) + rw_fixed(9, 1, remaining=31 * 4096, data_offset=0,
                               chinfo=descs(*[(0x1000 * i, i, 4096)
                                              for i in range(31)])),
        max_descs=32),
    'write-inline': bridge_seed(INLINE_WRITE),
    'read-inline': bridge_seed(INLINE_READ),
    'read-response': bridge_seed(read_rsp(200)),
    'read-response-rdma': bridge_seed(read_rsp(0, remaining=65536)),
    'negotiate-0300': bridge_seed(negotiate_rsp(0x0300)),
    'negotiate-0311': bridge_seed(negotiate_rsp(0x0311)),
    'compound-three': bridge_seed(compound(INLINE_WRITE, RDMA_READ,
                                           read_rsp(16))),
    'transform': bridge_seed(b'\xfdSMB' + b'\0' * 48),
}


def write(kind, seeds):
    d = os.path.join(HERE, 'corpus', kind)
    os.makedirs(d, exist_ok=True)
    for name, blob in seeds.items():
        with open(os.path.join(d, name), 'wb') as fh:
            fh.write(blob)


if __name__ == '__main__':
    write('engine', ENGINE)
    write('codec', CODEC)
    write('bridge', BRIDGE)
