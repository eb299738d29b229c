//! Large values in blob files: items of `storage.blob_threshold` bytes or
//! more are flushed to `.blob` files beside the table files, and merges move
//! only their keys, never the values.

use super::*;

const VALUE_LEN: usize = 100_000;
/// Two memtables' worth of keys (4 MiB each in CONFIG) ...
const KEYS: usize = 80;
/// ... each written this many times, so that every group of flushed files
/// holds older versions of its own keys: a merge would drop most of it.
const ROUNDS: usize = 8;

#[test]
fn large_values_go_to_blob_files_and_merges_do_not_rewrite_them() {
    let server = server();
    let mut client = server.connect();
    let mut set_bytes = 0;
    for round in 0..ROUNDS {
        for key in 0..KEYS {
            let value = petrel_testkit::incompressible_value((round * KEYS + key) as u64, VALUE_LEN);
            let mut request = format!("set large-{key:04} 0 0 {VALUE_LEN} noreply\r\n").into_bytes();
            request.extend_from_slice(&value);
            request.extend_from_slice(b"\r\n");
            client.send(&request);
            set_bytes += VALUE_LEN;
        }
        assert_eq!(client.call(b"mn\r\n", 4), b"MN\r\n");
    }
    // Merges run in the background once the files are flushed.
    let started = Instant::now();
    let stats = loop {
        let stats = admin_stats(&server);
        if stat(&stats, "rocksdb_compaction_written_bytes").unwrap() > 0
            || started.elapsed() > Duration::from_secs(20)
        {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let blob_files = std::fs::read_dir(server.dir().join("data"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().file_name().to_string_lossy().ends_with(".blob"))
        .count();
    let live_blobs = stat(&stats, "rocksdb_live_blob_bytes").unwrap() as usize;
    let wal = stat(&stats, "rocksdb_wal_written_bytes").unwrap() as usize;
    let flushed = stat(&stats, "rocksdb_flush_written_bytes").unwrap() as usize;
    let merged = stat(&stats, "rocksdb_compaction_written_bytes").unwrap() as usize;
    eprintln!(
        "{} MB of 100 KB values set: log {} MB, flushed {} MB, merged {} KB; {blob_files} blob files, {} MB live; \
         {:.2} bytes written per byte set",
        set_bytes / 1_000_000,
        wal / 1_000_000,
        flushed / 1_000_000,
        merged / 1000,
        live_blobs / 1_000_000,
        (wal + flushed + merged) as f64 / set_bytes as f64
    );
    assert!(blob_files > 0, "no .blob file: {stats}");
    // The last round, at least, is live in blob files.
    assert!(live_blobs >= KEYS * VALUE_LEN * 9 / 10, "{stats}");
    assert!(merged > 0, "no merge ran, so what merges write went untried: {stats}");
    // Merges wrote keys and blob references, not the values: one that
    // moved the values it kept would have written megabytes.
    assert!(merged < KEYS * VALUE_LEN / 20, "merges wrote {merged} bytes: {stats}");
    // And every value reads back whole.
    for key in (0..KEYS).step_by(7) {
        let value = petrel_testkit::incompressible_value(((ROUNDS - 1) * KEYS + key) as u64, VALUE_LEN);
        client.send(format!("get large-{key:04}\r\n").as_bytes());
        assert_eq!(client.read_line(), format!("VALUE large-{key:04} 0 {VALUE_LEN}\r\n"));
        assert!(client.read_exact(VALUE_LEN) == value, "large-{key:04}");
        assert_eq!(client.read_exact(7), b"\r\nEND\r\n");
    }
}
