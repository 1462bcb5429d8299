#!/usr/bin/python3
# A hostile TCP client for the bridge tier (bridge-tests.sh): it sends one
# kind of bad input to a forward smbdirect-bridge and checks that the
# connection is closed within a bound, without an answer to the bad input.
#
# Usage: bridge-badclient.py CASE|all HOST PORT
# ("all" runs every case at once, each on its own connection)
# Cases:
#   bogus-header      a Direct TCP header whose first byte is not 0
#   not-smb           a frame that is not an SMB message
#   bad-compound      an SMB2 PDU whose NextCommand points past the frame
#   truncated         a header announcing 4096 bytes, 10 sent, then EOF
#   oversize          a frame longer than the bridge's --max-frame
#   huge-descriptors  an SMB2 WRITE, Channel RDMA_V1, 4095 descriptors
#                     (the forward bridge passes it; the reverse one must
#                     refuse it)
#   signed-rdma       an SMB2 WRITE, Channel RDMA_V1, SMB2_FLAGS_SIGNED
#   rdma-read-overrun an SMB2 READ, Channel RDMA_V1, Length larger than
#                     its single descriptor
#   encrypted         a transform header message (0xFD 'SMB'): the forward
#                     bridge passes it, the reverse one cannot look inside
#                     and must refuse it
# Exit status 0 if the bridge closed the connection within 20 s, 1 if it
# answered or kept it open.
import socket
import struct
import sys
import time


def smb2_header(command, message_id, flags=0, next_command=0):
    # [MS-SMB2] 2.2.1.2: sync header, 64 bytes.
    return (b"\xfeSMB" + struct.pack("<HHIHHIIQIIQ16s", 64, 1, 0, command,
                                     1, flags, next_command, message_id,
                                     0, 0, 0, b"\0" * 16))


def write_rdma(ndesc, flags=0, remaining=4096):
    # [MS-SMB2] 2.2.21 with WriteChannelInfo at 0x70.
    body = struct.pack("<HHIQ16sIIHHI", 49, 0x70, 0, 0, b"\xff" * 16, 1,
                       remaining, 0x70, 16 * ndesc, 0)
    descs = b"".join(struct.pack("<QII", 0x1000 * i, 0x1234, 4096)
                     for i in range(ndesc))
    return smb2_header(9, 5, flags) + body + descs


def read_rdma(length):
    # [MS-SMB2] 2.2.19 with ReadChannelInfo at 0x70, one 4096-byte buffer.
    body = struct.pack("<HBBIQ16sIIIHH", 49, 0x50, 0, length, 0, b"\xff" * 16,
                       0, 1, 0, 0x70, 16)
    return smb2_header(8, 6) + body + struct.pack("<QII", 0, 0x1234, 4096)


def frame(msg):
    return struct.pack(">I", len(msg)) + msg


def payload(case):
    if case == "bogus-header":
        return b"\x42\x00\x00\x10" + b"x" * 16
    if case == "not-smb":
        return frame(b"XXXX" + b"\0" * 60)
    if case == "bad-compound":
        return frame(smb2_header(13, 1, next_command=0x1000) + b"\0" * 8)
    if case == "truncated":
        return b"\x00\x00\x10\x00" + b"\xfeSMB" + b"\0" * 6
    if case == "oversize":
        return b"\x00\xff\xff\xff" + b"\0" * 4096
    if case == "huge-descriptors":
        return frame(write_rdma(4095))
    if case == "signed-rdma":
        return frame(write_rdma(1, flags=0x8))
    if case == "rdma-read-overrun":
        return frame(read_rdma(65536))
    if case == "encrypted":
        # [MS-SMB2] 2.2.41: 52-byte transform header, then ciphertext.
        return frame(b"\xfdSMB" + b"\0" * 16 + b"\0" * 16 +
                     struct.pack("<IHHQ", 64, 0, 1, 0) + b"\x55" * 64)
    raise SystemExit("unknown case " + case)


CASES = ["bogus-header", "not-smb", "bad-compound", "truncated", "oversize",
         "huge-descriptors", "signed-rdma", "rdma-read-overrun", "encrypted"]


def run_all(host, port):
    import threading
    results = {}

    def one(case):
        try:
            results[case] = run(case, host, port)
        except Exception as e:  # a failure of this case, not of the others
            print("%s: %s" % (case, e))
            results[case] = 1

    threads = [threading.Thread(target=one, args=(c,)) for c in CASES]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    bad = [c for c in CASES if results.get(c, 1) != 0]
    print("all: %d cases, failed: %s" % (len(CASES), " ".join(bad) or "none"))
    return 1 if bad else 0


def main():
    case, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if case == "all":
        return run_all(host, port)
    return run(case, host, port)


def run(case, host, port):
    s = socket.create_connection((host, port), timeout=20)
    data = payload(case)
    try:
        s.sendall(data)
        if case == "truncated":
            s.shutdown(socket.SHUT_WR)
    except OSError as e:
        print("%s: send: %s (closed early: fine)" % (case, e))
        return 0
    start = time.time()
    got = b""
    try:
        while time.time() - start < 20:
            chunk = s.recv(65536)
            if not chunk:
                print("%s: closed by the bridge after %.2f s, %d bytes "
                      "answered" % (case, time.time() - start, len(got)))
                return 0 if not got else 1
            got += chunk
    except ConnectionResetError:
        print("%s: reset by the bridge after %.2f s" %
              (case, time.time() - start))
        return 0 if not got else 1
    except socket.timeout:
        pass
    print("%s: still open after 20 s (%d bytes answered)" % (case, len(got)))
    return 1


if __name__ == "__main__":
    sys.exit(main())
