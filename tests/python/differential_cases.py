"""Generated request sequences for the differential test against memcached.

Every sequence is bytes to send on a fresh connection. They are generated,
not written by hand, so that whole classes of input are covered:

- every text and meta command with every argument count from 0 to its
  maximum + 2, with and without `noreply` (or `q`);
- every number a command reads, at and past each limit;
- keys of 250 and 251 bytes and keys with control bytes;
- line lengths around memcached's and Petrel's limits;
- HTTP request lines and a binary-protocol first byte;
- pipelined mixes of the above in one write, from a fixed seed.
"""

import random

NUMBERS = [
    b"0", b"1", b"-1", b"+1", b"-0", b"007", b"1a", b"abc", b"0x10",
    b"2147483646", b"2147483647", b"2147483648", b"-2147483648", b"-2147483649",
    b"4294967295", b"4294967296", b"4294967299",
    b"9223372036854775807", b"9223372036854775808", b"-9223372036854775808",
    b"18446744073709551615", b"18446744073709551616", b"99999999999999999999999",
]

# A time to live of one second ends at the next tick of either server's
# clock, at a moment neither test nor server controls: never used for a TTL.
RACY_TTLS = {b"1", b"+1"}

# A value for every argument of each command, in order; `#` marks a number
# that the limits sweep replaces, `@` a time to live. Storage commands get a
# one-byte value.
COMMANDS = {
    b"get": [b"k", b"n", b"missing"],
    b"gets": [b"k", b"n"],
    b"gat": [b"@10", b"k", b"n"],
    b"gats": [b"@10", b"k"],
    b"set": [b"k", b"#0", b"@0", b"#1"],
    b"add": [b"k", b"#0", b"@0", b"#1"],
    b"replace": [b"k", b"#0", b"@0", b"#1"],
    b"append": [b"k", b"#0", b"@0", b"#1"],
    b"prepend": [b"k", b"#0", b"@0", b"#1"],
    b"cas": [b"k", b"#0", b"@0", b"#1", b"#1"],
    b"delete": [b"k", b"#0"],
    b"incr": [b"n", b"#1"],
    b"decr": [b"n", b"#1"],
    b"touch": [b"k", b"@10"],
    b"flush_all": [b"#0"],
    b"verbosity": [b"#1"],
    b"version": [],
    b"stats": [b"detail", b"dump"],
    b"mn": [],
    b"mg": [b"k", b"v", b"f", b"t", b"c", b"s", b"k"],
    b"md": [b"k", b"q", b"C1"],
    b"ma": [b"n", b"D#2", b"MI", b"N@0", b"J#5", b"v"],
    b"me": [b"k"],
    b"ms": [b"k", b"#1", b"T@0", b"F#3", b"c"],
}
STORAGE = {b"set", b"add", b"replace", b"append", b"prepend", b"cas"}
META = {b"mg", b"md", b"ma", b"me", b"ms", b"mn"}

# Sent before each case (and answered before the case is sent): a value
# under `k` and a counter under `n`, so that commands find something to act
# on.
PRELUDE = b"set k 3 0 5\r\nhello\r\nset n 0 0 2\r\n10\r\nset k7 0 0 2\r\nk7\r\n"


def data_for(command, words):
    """The data block a storage command's words announce, when they announce
    a small one; otherwise a one-byte block the server may read as a line."""
    position = 3 if command in STORAGE else 1 if command == b"ms" else None
    if position is None:
        return b""
    try:
        length = int(words[position])
    except (IndexError, ValueError):
        return b"x\r\n"
    return b"x" * length + b"\r\n" if 0 <= length <= 100 else b"x\r\n"


def plain(word):
    return word.replace(b"#", b"").replace(b"@", b"")


def line(command, words, data=None):
    words = [plain(word) for word in words]
    text = b" ".join([command] + words) + b"\r\n"
    if data is None:
        data = data_for(command, words)
    return text + data


def argument_counts():
    for command, arguments in COMMANDS.items():
        pool = arguments + [b"extra", b"more"]
        for count in range(0, len(arguments) + 3):
            words = pool[:count]
            yield f"{command.decode()} with {count} arguments", line(command, words)
            if command in META:
                yield f"{command.decode()} with {count} arguments, q", line(command, words + [b"q"])
            else:
                yield f"{command.decode()} with {count} arguments, noreply", line(command, words + [b"noreply"])


def number_limits():
    for command, arguments in COMMANDS.items():
        for position, word in enumerate(arguments):
            marker = b"#" if b"#" in word else b"@" if b"@" in word else None
            if marker is None:
                continue
            for number in NUMBERS:
                if marker == b"@" and number in RACY_TTLS:
                    continue
                words = list(arguments)
                words[position] = word.split(marker)[0] + number
                name = f"{command.decode()} argument {position} = {number.decode()}"
                request = line(command, words)
                if command not in META:
                    yield name, request + line(b"get", [b"k", b"n"])
                    yield name + ", noreply", line(command, words + [b"noreply"]) + line(b"get", [b"k", b"n"])
                else:
                    yield name, request + line(b"mg", [b"k", b"v", b"f"])


def keys():
    for size in (1, 249, 250, 251, 300):
        key = b"k" * size
        yield f"key of {size} bytes", line(b"set", [key, b"0", b"0", b"1"]) + line(b"get", [key])
        yield f"meta key of {size} bytes", line(b"ms", [key, b"1"]) + line(b"mg", [key, b"v"])
        yield f"delete key of {size} bytes", line(b"delete", [key]) + line(b"incr", [key, b"1"])
    for key in [b"\x10\x10abc", b"\x01", b"a\x7fb", b"\xff\xfe", "ключ".encode(), b"a\tb", b"a\rb", b"a\x00b"]:
        name = f"key {key!r}"
        yield name, line(b"set", [key, b"0", b"0", b"1"]) + line(b"get", [key]) + line(b"get", [key, b"k"])
        yield name + " in meta", line(b"ms", [key, b"1"]) + line(b"mg", [key, b"v", b"k"]) + line(b"md", [key])
        yield name + " in delete, incr, touch", (
            line(b"set", [key, b"0", b"0", b"1"], b"5\r\n") + line(b"incr", [key, b"1"])
            + line(b"touch", [key, b"10"]) + line(b"delete", [key]) + line(b"get", [key])
        )


def line_lengths():
    for size in (2000, 2048, 2100, 8000, 16000, 16384, 17000, 70000):
        yield f"set line padded to {size}", b"set k 0 0 1" + b" " * size + b"\r\nx\r\nget k\r\n"
        yield f"unknown line of {size}", b"bogus" + b"x" * size + b"\r\n"
        keys = b" ".join(b"k%d" % i for i in range(size // 7))
        yield f"get line of {size}", b"get " + keys + b"\r\n"
        yield f"gets line of {size}", b"gets " + keys + b" k n\r\n"
        yield f"get line of {size} with a long key", b"get " + keys + b" " + b"x" * 251 + b"\r\n"
    many = b" ".join(b"key%d" % i for i in range(18725))
    yield "get of 18725 keys", line(b"set", [b"key9999", b"0", b"0", b"1"]) + b"get " + many + b"\r\n"


HTTP = [
    b"GET / HTTP/1.0\r\n", b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n", b"PUT /asdf/asd HTTP/1.1\r\n",
    b"DELETE HTTP/1.1\r\n", b"POST / HTTP/1.1\r\nContent-Length: 20\r\n\r\nset k 0 0 1\r\nx\r\n",
    b"HEAD / HTTP/1.1\r\n", b"OPTIONS * HTTP/1.1\r\n", b"HTTP/1.1\r\n", b"PRI * HTTP/2.0\r\n",
    b"GET k\r\n", b"POST /\r\n", b"get / HTTP/1.1\r\n", b"set HTTP/1.1 0 0 1\r\nx\r\n", b"x HTTP/1.1\r\n",
    b"ab HTTP/1.1\r\n", b"xx HTTP/1.1\r\n", b"mx HTTP/1.1\r\n", b"version HTTP/1.1\r\n", b"z / HTTPS/1.1\r\n",
]


def http_lines():
    for request in HTTP:
        yield f"http {request[:30]!r}", request


def binary_first_byte():
    yield "binary magic first", b"\x80\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00" + b"\x00" * 8 + b"k"
    yield "binary magic after a command", b"get k\r\n\x80\x01\x00\x00\r\n"


def crawler_commands():
    """`lru_crawler` forms, but dumps of classes that hold items: their lines
    carry times and CAS values of each server's own (test_memcached_tool.py
    compares those), `mgdump`, which memcached 1.6.18 lacks, and `enable`
    and `disable`, which start and stop memcached's crawler thread (stopped,
    it leaves the next commands unanswered)."""
    arguments = {
        b"metadump": [b"0", b"2", b"63", b"64", b"-1", b"ALL", b"x", b",", b"2,63", b"2,64", b"1a"],
        # A crawl memcached starts leaves it answering nothing to the next
        # cases for a while: only the refused forms.
        b"crawl": [b"99", b"x", b","],
        b"sleep": NUMBERS + [b"1000000", b"1000001"],
        b"tocrawl": NUMBERS,
        b"foo": [],
    }
    for command, values in arguments.items():
        yield f"lru_crawler {command!r}", b"lru_crawler " + command + b"\r\n"
        for value in values:
            dumps = command == b"metadump" and value in (b"2", b"63", b"2,63")
            name = f"lru_crawler dump of empty classes {value!r}" if dumps else f"lru_crawler {command!r} {value!r}"
            yield name, b"lru_crawler %s %s\r\n" % (command, value)
            yield f"lru_crawler {command!r} {value!r} extra", b"lru_crawler %s %s x\r\n" % (command, value)
    yield "lru_crawler alone", b"lru_crawler\r\n"


def simple_cases():
    """The cases that leave the connection open and in step, for mixing."""
    yield from (case for case in argument_counts() if b"quit" not in case[1])
    yield from number_limits()


def pipelined_mixes(count=300, seed=20261130):
    rng = random.Random(seed)
    pool = [request for _, request in simple_cases() if len(request) < 4096]
    safe = [r for r in pool if not any(r.startswith(c) for c in (b"flush_all", b"stats", b"verbosity"))]
    for index in range(count):
        parts = rng.sample(safe, rng.randint(2, 6))
        yield f"pipelined mix {index}", b"".join(parts)


def generate():
    """Every case, by name: (name, bytes)."""
    cases = []
    for generator in (argument_counts, number_limits, keys, line_lengths, http_lines, binary_first_byte,
                      crawler_commands, pipelined_mixes):
        cases.extend(generator())
    cases.append(("quit", b"quit\r\nget k\r\n"))
    names = set()
    unique = []
    for name, request in cases:
        if name not in names:
            names.add(name)
            unique.append((name, request))
    return unique
