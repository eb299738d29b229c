//! The sample configs in `config/` are real configs: each parses with its
//! binary's config type, and lists every key that type has.

use std::path::PathBuf;

fn sample(name: &str) -> PathBuf {
    manifest_dir().join("../config").join(name)
}

/// Every `section.key` of a TOML table.
fn keys(table: &toml::Table) -> Vec<String> {
    let mut keys = Vec::new();
    for (section, value) in table {
        match value {
            toml::Value::Table(inner) => keys.extend(inner.keys().map(|key| format!("{section}.{key}"))),
            _ => keys.push(section.clone()),
        }
    }
    keys.sort();
    keys
}

#[test]
fn ping_sample_parses_and_documents_every_key() {
    let path = sample("ping.toml");
    let config: petrel_ping::PingConfig = petrel_config::load(&path).unwrap();
    assert_eq!(config, petrel_ping::PingConfig::default(), "the sample shows the defaults");
    let written: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let known = toml::Table::try_from(petrel_ping::PingConfig::default()).unwrap();
    assert_eq!(keys(&written), keys(&known), "config/ping.toml must list every key");
}

#[test]
fn memcache_sample_parses_and_documents_every_key() {
    let path = sample("memcache.toml");
    let config: petrel_memcache::MemcacheConfig = petrel_config::load(&path).unwrap();
    assert_eq!(config, petrel_memcache::MemcacheConfig::default(), "the sample shows the defaults");
    let written: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let known = toml::Table::try_from(petrel_memcache::MemcacheConfig::default()).unwrap();
    assert_eq!(keys(&written), keys(&known), "config/memcache.toml must list every key");
}

/// The rows of docs/operations.md's configuration reference:
/// `section.key` and its default, as written.
fn documented_keys() -> Vec<(String, String)> {
    let path = manifest_dir().join("../docs/operations.md");
    let text = std::fs::read_to_string(path).unwrap();
    let reference = text.split("## Configuration reference").nth(1).unwrap();
    let reference = reference.split("\n## ").next().unwrap();
    reference
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let key = cells.first()?.strip_prefix("| `")?.strip_suffix('`')?;
            let default = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            key.contains('.').then(|| (key.to_string(), default.to_string()))
        })
        .collect()
}

#[test]
fn the_operations_guide_documents_every_key_with_its_default() {
    let defaults = toml::Table::try_from(petrel_memcache::MemcacheConfig::default()).unwrap();
    let documented = documented_keys();
    let mut names: Vec<String> = documented.iter().map(|(key, _)| key.clone()).collect();
    names.sort();
    assert_eq!(names, keys(&defaults), "docs/operations.md must list every key, once");
    for (key, written) in documented {
        let (section, name) = key.split_once('.').unwrap();
        let default = &defaults[section][name];
        let parsed: toml::Table = format!("value = {written}").parse().unwrap();
        assert_eq!(&parsed["value"], default, "the default of {key} in docs/operations.md");
    }
}

#[test]
fn both_ports_bind_the_loopback_address_unless_configured_otherwise() {
    let memcache = petrel_memcache::MemcacheConfig::default();
    let ping = petrel_ping::PingConfig::default();
    for address in [
        memcache.core.listener.address,
        memcache.core.admin.address,
        ping.listener.address,
        ping.admin.address,
    ] {
        assert!(address.ip().is_loopback(), "{address} is reachable from other machines");
    }
}

/// This package's directory, as cargo gives it when running the test: the
/// compile-time value may name another checkout sharing the target directory.
fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
}
