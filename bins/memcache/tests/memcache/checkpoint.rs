//! Checkpoints: backups taken through the admin port while the server
//! serves, only under the configured root.

use super::*;

/// A server whose checkpoints go under `backups` in its directory.
fn checkpointing_server() -> ServerProcess {
    let server = ServerProcess::start(BINARY, &format!("{CONFIG}[checkpoint]\nroot = \"backups\"\n"));
    std::fs::create_dir(server.dir().join("backups")).unwrap();
    server
}

#[test]
fn a_checkpoint_goes_under_the_configured_root_and_nowhere_else() {
    let server = server();
    let mut admin = server.connect_admin();
    admin.send(b"checkpoint anywhere\r\n");
    assert!(admin.read_line().starts_with("SERVER_ERROR checkpoints are off: set [checkpoint] root"));

    let server = checkpointing_server();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), server.dir().join("backups/out")).unwrap();
    let mut admin = server.connect_admin();
    for escape in [
        "../escaped".to_string(),
        "nested/../../escaped".to_string(),
        outside.path().join("absolute").display().to_string(),
        "out/through-a-link".to_string(),
    ] {
        admin.send(format!("checkpoint {escape}\r\n").as_bytes());
        let reply = admin.read_line();
        assert!(
            reply.starts_with("CLIENT_ERROR ") && reply.contains("is not under the checkpoint root"),
            "{escape}: {reply}"
        );
    }
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "nothing written outside");
    // Under the root, by name or by absolute path; and its figures.
    let root = server.dir().join("backups").canonicalize().unwrap();
    admin.send(format!("checkpoint first\r\ncheckpoint {}\r\n", root.join("second").display()).as_bytes());
    assert_eq!(admin.read_line(), format!("OK {}\r\n", root.join("first").display()));
    assert_eq!(admin.read_line(), format!("OK {}\r\n", root.join("second").display()));
    let stats = admin_stats(&server);
    assert!(stat(&stats, "checkpoint_last_bytes").unwrap() > 0, "{stats}");
    assert!(stat(&stats, "checkpoint_last_time").unwrap() > 1_700_000_000);
    assert!(stat(&stats, "checkpoint_last_milliseconds").is_some());
}

#[test]
fn an_admin_checkpoint_is_a_backup_taken_while_serving() {
    let server = checkpointing_server();
    let mut client = server.connect();
    for i in 0..1000 {
        set(&mut client, &format!("key-{i}"), i, &format!("value-{i}"));
    }
    // A writer keeps going while the checkpoint is taken.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, mut client) = (stop.clone(), server.connect());
        std::thread::spawn(move || {
            let mut written = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                set(&mut client, &format!("during-{written}"), 0, "x");
                written += 1;
            }
            written
        })
    };
    let mut admin = server.connect_admin();
    admin.send(b"checkpoint backup-1\r\n");
    let backup = server.dir().join("backups").canonicalize().unwrap().join("backup-1");
    assert_eq!(admin.read_line(), format!("OK {}\r\n", backup.display()));
    // Into an existing directory, or with no directory: refused.
    admin.send(b"checkpoint backup-1\r\ncheckpoint\r\n");
    assert!(admin.read_line().starts_with("CLIENT_ERROR "));
    assert!(admin.read_line().starts_with("CLIENT_ERROR usage: checkpoint <directory under "));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
    // The backup lives in the server's directory: keep it past the server.
    let mut server = server;
    server.stop_with(libc::SIGTERM);
    let _directory = server.into_dir();

    // A server opened on the backup has every item written before it.
    let restored = ServerProcess::start(BINARY, &format!("{CONFIG}path = \"{}\"\n", backup.display()));
    let mut client = restored.connect();
    for i in [0, 500, 999] {
        client.send(format!("get key-{i}\r\n").as_bytes());
        let expected = format!("VALUE key-{i} {i} {}\r\nvalue-{i}\r\nEND\r\n", format!("value-{i}").len());
        assert_eq!(client.read_until_line("END\r\n"), expected);
    }
}
