//! The logger writes real files: the server log, and one command in
//! `klog_sample` to the command log. One test per process, since a process
//! has one logger.

use petrel_config::{LogLevel, LoggingConfig};

#[test]
fn log_and_sampled_command_log_reach_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let klog_path = dir.path().join("klog.log");
    let config = LoggingConfig {
        level: LogLevel::Info,
        output: log_path.display().to_string(),
        klog_sample: 4,
        klog_output: klog_path.clone(),
    };
    let logger = petrel_logger::init(&config).unwrap();
    log::info!("server started");
    log::debug!("not at this level");
    for n in 0..20 {
        petrel_logger::klog!("get key-{n} hit");
    }
    drop(logger);

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("INFO files: server started"), "{log}");
    assert!(!log.contains("not at this level"), "{log}");
    assert!(!log.contains("key-"), "command log lines leaked into the server log: {log}");

    let klog = std::fs::read_to_string(&klog_path).unwrap();
    let lines: Vec<&str> = klog.lines().collect();
    assert_eq!(lines.len(), 5, "one in four of 20 commands: {klog}");
    assert!(lines[0].ends_with(" get key-0 hit"), "{klog}");
    assert!(lines[1].ends_with(" get key-4 hit"), "{klog}");
}
