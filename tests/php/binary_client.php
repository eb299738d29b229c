<?php
// PHP's memcached extension (over libmemcached) with the binary protocol on,
// through its public API. Usage: php binary_client.php HOST PORT
// Prints one line per check; exits 1 at the first that fails.

[$script, $host, $port] = $argv;

function check(string $what, bool $holds): void {
    if (!$holds) {
        global $m;
        fwrite(STDERR, "FAILED: $what (last result: {$m->getResultMessage()})\n");
        exit(1);
    }
    echo "ok: $what\n";
}

$m = new Memcached();
$m->setOption(Memcached::OPT_BINARY_PROTOCOL, true);
$m->setOption(Memcached::OPT_COMPRESSION, false); // append and prepend need it off
$m->addServer($host, (int) $port);
check("a fresh key space", $m->flush());

check("set", $m->set("k", "hello"));
check("get", $m->get("k") === "hello");
check("get of a missing key", $m->get("missing") === false && $m->getResultCode() === Memcached::RES_NOTFOUND);
check("typed values keep their flags", $m->set("int", 42) && $m->get("int") === 42
    && $m->set("array", ["a" => 1]) && $m->get("array") === ["a" => 1]);
check("set with a binary key value", $m->set("bin", "\x00\xff\r\n") && $m->get("bin") === "\x00\xff\r\n");

check("add of a new key", $m->add("fresh", "1"));
check("add of a present key", !$m->add("fresh", "2") && $m->getResultCode() === Memcached::RES_DATA_EXISTS);
check("replace of a present key", $m->replace("fresh", "3") && $m->get("fresh") === "3");
check("replace of a missing key", !$m->replace("absent", "x") && $m->get("absent") === false);
check("append", $m->append("k", "-tail"));
check("prepend", $m->prepend("k", "head-"));
check("append and prepend land", $m->get("k") === "head-hello-tail");
check("append to a missing key", !$m->append("absent", "x"));

$item = $m->get("k", null, Memcached::GET_EXTENDED);
check("get with its CAS", $item["value"] === "head-hello-tail" && $item["cas"] > 0);
check("cas with the current CAS", $m->cas($item["cas"], "k", "swapped"));
check("cas with a stale CAS", !$m->cas($item["cas"], "k", "stale") && $m->getResultCode() === Memcached::RES_DATA_EXISTS);
check("the swapped value", $m->get("k") === "swapped");
check("cas of a missing key", !$m->cas(12345, "absent", "x") && $m->getResultCode() === Memcached::RES_NOTFOUND);

check("delete", $m->delete("k"));
check("delete of a missing key", !$m->delete("k") && $m->getResultCode() === Memcached::RES_NOTFOUND);

check("increment", $m->set("n", 10) && $m->increment("n", 5) === 15);
check("decrement stops at zero", $m->decrement("n", 100) === 0);
check("increment creates a counter with its initial value", $m->increment("created", 1, 7) === 7
    && $m->increment("created", 1, 7) === 8);
check("decrement creates a counter with its initial value", $m->decrement("down", 1, 3) === 3);
check("increment of a non-number", $m->set("text", "abc") && $m->increment("text", 1) === false);

check("touch", $m->set("t", "v", 3600) && $m->touch("t", 1));
check("touch of a missing key", !$m->touch("absent", 10));
check("expiry", $m->set("short", "v", 1) && $m->get("short") === "v");
sleep(2);
check("touched and short-lived items expire", $m->get("t") === false && $m->get("short") === false);

$keys = [];
for ($i = 0; $i < 100; $i++) {
    $keys["multi-$i"] = "value-$i";
}
check("setMulti", $m->setMulti($keys));
$found = $m->getMulti(array_merge(array_keys($keys), ["missing-1", "missing-2"]));
check("getMulti", $found == $keys);
check("deleteMulti", count(array_filter($m->deleteMulti(["multi-0", "multi-1"]), fn($r) => $r !== true)) === 0);
check("getMulti after deleteMulti", count($m->getMulti(array_keys($keys))) === 98);

$stats = $m->getStats();
$server = $stats["$host:$port"];
check("getStats", isset($server["pid"], $server["uptime"], $server["cmd_get"], $server["curr_items"])
    && $server["cmd_set"] > 0);
check("version", is_string($m->getVersion()["$host:$port"]));

check("flush", $m->flush());
check("flush empties", $m->get("fresh") === false && $m->get("int") === false);
check("stores after the flush", $m->set("after", "kept") && $m->get("after") === "kept");

check("a value over the limit is refused", !$m->set("after", str_repeat("x", 2 << 20)));
check("and takes the old value with it", $m->get("after") === false);
check("the connection goes on", $m->set("last", "1") && $m->get("last") === "1");
echo "done\n";
