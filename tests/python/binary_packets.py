"""memcached's binary protocol for the tests: requests built, replies split.

Written from the protocol's description (docs/protocol.md), independently
of the server's Rust code, so that a test of one does not reuse the other."""

import struct

REQUEST, RESPONSE = 0x80, 0x81
HEADER = struct.Struct(">BBHBBHIIQ")

GET, SET, ADD, REPLACE, DELETE, INCREMENT, DECREMENT, QUIT, FLUSH = range(9)
GETQ, NOOP, VERSION, GETK, GETKQ, APPEND, PREPEND, STAT = range(9, 17)
SETQ, ADDQ, REPLACEQ, DELETEQ, INCREMENTQ, DECREMENTQ, QUITQ, FLUSHQ, APPENDQ, PREPENDQ = range(17, 27)
VERBOSITY, TOUCH, GAT, GATQ, GATK, GATKQ = 0x1B, 0x1C, 0x1D, 0x1E, 0x23, 0x24

# The opaque of the NoOp that ends every exchange.
END_OPAQUE = 0x0E0D0C0B


def request(opcode, key=b"", extras=b"", value=b"", cas=0, opaque=0, data_type=0,
            key_len=None, extras_len=None, body_len=None, magic=REQUEST):
    """A request packet; the length fields may be given to lie."""
    key_len = len(key) if key_len is None else key_len
    extras_len = len(extras) if extras_len is None else extras_len
    body_len = len(extras) + len(key) + len(value) if body_len is None else body_len
    header = HEADER.pack(magic, opcode, key_len, extras_len, data_type, 0, body_len, 0, cas)
    # The opaque is echoed byte for byte.
    header = header[:12] + struct.pack("<I", opaque) + header[16:]
    return header + extras + key + value


def store_extras(flags=0, exptime=0):
    return struct.pack(">II", flags, exptime)


def counter_extras(delta=1, initial=0, exptime=0):
    return struct.pack(">QQI", delta, initial, exptime)


def expiry_extras(exptime):
    return struct.pack(">I", exptime)


def end():
    """The NoOp that ends an exchange."""
    return request(NOOP, opaque=END_OPAQUE)


class Packet:
    """A reply split into its parts."""

    def __init__(self, raw):
        (self.magic, self.opcode, key_len, extras_len, self.data_type, self.status, body_len, _,
         self.cas) = HEADER.unpack(raw[:24])
        self.opaque = struct.unpack("<I", raw[12:16])[0]
        body = raw[24:24 + body_len]
        self.extras = body[:extras_len]
        self.key = body[extras_len:extras_len + key_len]
        self.value = body[extras_len + key_len:]
        self.raw = raw

    @property
    def flags(self):
        return struct.unpack(">I", self.extras)[0] if len(self.extras) == 4 else None

    def ends_exchange(self):
        return self.opcode == NOOP and self.opaque == END_OPAQUE

    def __repr__(self):
        return (f"Packet(op={self.opcode:#x} status={self.status:#x} opaque={self.opaque:#x} cas={self.cas} "
                f"extras={self.extras!r} key={self.key!r} value={self.value[:60]!r})")


def split(data):
    """The whole packets at the front of `data`, and what is left."""
    packets = []
    while len(data) >= 24:
        body_len = struct.unpack(">I", data[8:12])[0]
        if len(data) < 24 + body_len:
            break
        packets.append(Packet(data[:24 + body_len]))
        data = data[24 + body_len:]
    return packets, data
