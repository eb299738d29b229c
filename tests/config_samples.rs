//! The sample configs in `config/` are real configs: each parses with its
//! binary's config type, and lists every key that type has.

use std::path::PathBuf;

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config").join(name)
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
