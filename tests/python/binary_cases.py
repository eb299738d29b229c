"""Generated request sequences for the binary differential test against
memcached. Every sequence is bytes to send on a fresh connection after the
prelude, which stores `k` (flags 5) and the counter `n`; they are generated,
not written by hand, so that whole classes of input are covered:

- every opcode byte from 0x00 to 0x3f, well formed;
- each served opcode with every extras length (0, 4, 8, 20), key (none, one
  byte, 250 and 251 bytes) and value (none or one byte), and each with a
  body shorter than its extras and key;
- every command's outcomes: hits and misses, quiet variants, CAS mismatches,
  counters created or not, values at and past the size limit;
- pipelined mixes of well-formed requests in one write, from a fixed seed.
"""

import random

from binary_packets import (
    ADD, ADDQ, APPEND, APPENDQ, DECREMENT, DECREMENTQ, DELETE, DELETEQ, FLUSH, FLUSHQ, GAT, GATK, GATKQ, GATQ,
    GET, GETK, GETKQ, GETQ, INCREMENT, INCREMENTQ, NOOP, PREPEND, PREPENDQ, QUIT, QUITQ, REPLACE, REPLACEQ,
    SET, SETQ, STAT, TOUCH, VERSION, counter_extras, expiry_extras, request, store_extras,
)

PRELUDE = request(SETQ, b"k", store_extras(5, 0), b"hello") + request(SETQ, b"n", store_extras(), b"41")

STORES = [SET, ADD, REPLACE, SETQ, ADDQ, REPLACEQ]
CONCATS = [APPEND, PREPEND, APPENDQ, PREPENDQ]
GETS = [GET, GETK, GETQ, GETKQ]
TOUCHES = [TOUCH, GAT, GATK, GATQ, GATKQ]
COUNTERS = [INCREMENT, DECREMENT, INCREMENTQ, DECREMENTQ]
SERVED = STORES + CONCATS + GETS + TOUCHES + COUNTERS + [DELETE, DELETEQ, QUIT, QUITQ, FLUSH, FLUSHQ, NOOP,
                                                          VERSION, STAT]

# Largest value that fits under a one-byte key with memcached's default
# item size limit (1 MiB), as in the text protocol.
LARGEST = 1048576 - 1 - 59


def well_formed(opcode, key=b"k", value=b"v", cas=0, opaque=0, exptime=0):
    """`opcode` with the extras, key and value it takes."""
    if opcode in STORES:
        return request(opcode, key, store_extras(3, exptime), value, cas=cas, opaque=opaque)
    if opcode in CONCATS:
        return request(opcode, key, b"", value, cas=cas, opaque=opaque)
    if opcode in GETS or opcode in (DELETE, DELETEQ):
        return request(opcode, key, cas=cas, opaque=opaque)
    if opcode in TOUCHES:
        return request(opcode, key, expiry_extras(exptime or 100), cas=cas, opaque=opaque)
    if opcode in COUNTERS:
        return request(opcode, key, counter_extras(3, 7, exptime), cas=cas, opaque=opaque)
    if opcode == STAT:
        return request(opcode, b"", opaque=opaque)
    return request(opcode, opaque=opaque)


def every_opcode():
    for opcode in range(0x40):
        if opcode in (QUIT, QUITQ):
            yield f"opcode {opcode:#04x} then get", well_formed(opcode) + well_formed(GET)
        else:
            yield f"opcode {opcode:#04x}", well_formed(opcode, opaque=0xA1B2C3D4)


def lengths():
    keys = {"no key": b"", "key 1": b"k", "key 250": b"k" * 250, "key 251": b"k" * 251}
    for opcode in SERVED:
        for extras_len in (0, 4, 8, 20):
            for key_name, key in keys.items():
                for value in (b"", b"v"):
                    name = f"lengths {opcode:#04x} extras {extras_len} {key_name} value {len(value)}"
                    yield name, request(opcode, key, bytes(range(1, extras_len + 1)), value)
        yield f"body shorter than extras and key {opcode:#04x}", request(opcode, b"k", b"", b"", body_len=0)[:25]


def outcomes():
    yield "get hit and miss", b"".join(well_formed(op, key) for op in GETS for key in (b"k", b"absent"))
    yield "touch hit and miss", b"".join(well_formed(op, key) for op in TOUCHES for key in (b"k", b"absent"))
    yield "touch then get", well_formed(TOUCH, exptime=1000) + well_formed(GET)
    for op in STORES + CONCATS:
        for key in (b"k", b"absent"):
            yield f"store {op:#04x} {key.decode()}", well_formed(op, key) + well_formed(GETK, key)
            yield f"store {op:#04x} {key.decode()} wrong cas", well_formed(op, key, cas=999999) + well_formed(
                GETK, key)
    for op in (DELETE, DELETEQ):
        for key in (b"k", b"absent"):
            yield f"delete {op:#04x} {key.decode()}", well_formed(op, key) + well_formed(GETK, key)
            yield f"delete {op:#04x} {key.decode()} wrong cas", well_formed(op, key, cas=999999)
    for op in COUNTERS:
        for key in (b"n", b"k", b"absent"):
            for exptime in (0, 100, 0xFFFFFFFF):
                yield (f"counter {op:#04x} {key.decode()} exptime {exptime:#x}",
                       well_formed(op, key, exptime=exptime) + well_formed(GETK, key))
        yield f"counter {op:#04x} wrong cas", well_formed(op, b"n", cas=999999)
    big = 18446744073709551615
    yield "increment wraps", request(SET, b"w", store_extras(), str(big).encode()) + request(
        INCREMENT, b"w", counter_extras(2, 0, 0)) + well_formed(GET, b"w")
    yield "decrement stops at zero", request(DECREMENT, b"n", counter_extras(100, 0, 0)) + well_formed(GET, b"n")
    yield "decrement keeps the length", request(SET, b"d", store_extras(), b"100") + request(
        DECREMENT, b"d", counter_extras(1, 0, 0)) + well_formed(GET, b"d")
    yield "flush", request(FLUSH) + well_formed(GET)
    yield "flush quiet", request(FLUSHQ) + well_formed(GET)
    yield "flush with no delay extras", request(FLUSH, extras=expiry_extras(0)) + well_formed(GET)
    yield "flush delayed", request(FLUSH, extras=expiry_extras(100)) + well_formed(GET)
    for group in (b"", b"settings", b"items", b"slabs", b"sizes", b"conns", b"reset", b"detail dump",
                  b"detail on", b"detail off", b"detail", b"nonsense"):
        yield f"stat {group.decode() or 'general'}", request(STAT, group)
    yield "version", request(VERSION)
    yield "largest value that fits", request(SET, b"k", store_extras(), b"v" * LARGEST) + well_formed(TOUCH)
    yield "smallest value too large", request(SET, b"k", store_extras(), b"v" * (LARGEST + 1)) + well_formed(GET)
    yield "failed set leaves no stale value", request(SET, b"k", store_extras(), b"v" * 2000000) + well_formed(GET)
    yield "failed setq leaves no stale value", request(SETQ, b"k", store_extras(), b"v" * 2000000) + well_formed(GET)
    yield "failed add keeps the old value", request(ADD, b"k", store_extras(), b"v" * 2000000) + well_formed(GET)
    yield "failed append keeps the old value", request(APPEND, b"k", b"", b"v" * 2000000) + well_formed(GET)
    yield "append past the limit", request(SET, b"k", store_extras(), b"v" * LARGEST) + request(
        APPEND, b"k", b"", b"vv") + request(NOOP)
    yield "binary key", request(SET, b"a b\r\n\x00", store_extras(), b"x") + well_formed(GETK, b"a b\r\n\x00")
    yield "data type ignored", request(SET, b"t", store_extras(), b"x", data_type=1) + request(GET, b"t", data_type=7)
    yield "text after binary", well_formed(GET) + b"get k\r\n"
    yield "response magic after binary", well_formed(GET) + well_formed(GET).replace(b"\x80", b"\x81", 1)
    yield "quit", request(QUIT) + well_formed(GET)
    yield "quit quietly", request(QUITQ) + well_formed(GET)
    yield "quit with a key", request(QUIT, b"k")
    yield "empty stat key with extras", request(STAT, b"", b"1234")
    yield "refused opcode with a body: verbosity", request(0x1B, extras=expiry_extras(1)) + well_formed(GET)
    yield "refused opcode with a body: 0x30", request(0x30, b"kk", b"", b"vv") + well_formed(GET)


def pipelined_mixes(count=200, seed=20261130):
    rng = random.Random(seed)
    keys = [b"k", b"n", b"p1", b"p2", b"p3"]
    for index in range(count):
        parts = []
        for _ in range(rng.randint(2, 24)):
            opcode = rng.choice(STORES + CONCATS + GETS + TOUCHES + COUNTERS + [DELETE, DELETEQ, NOOP])
            value = rng.choice([b"1", b"abc", b"42", b"x" * 300])
            parts.append(well_formed(opcode, rng.choice(keys), value, opaque=rng.getrandbits(32)))
        yield f"pipelined mix {index}", b"".join(parts)


def generate():
    """Every case, by name: (name, bytes)."""
    cases = []
    for generator in (every_opcode, lengths, outcomes, pipelined_mixes):
        cases.extend(generator())
    return cases
