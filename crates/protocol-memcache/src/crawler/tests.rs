use super::*;

fn parse(line: &str) -> Result<CrawlerCommand, Error> {
    let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    CrawlerCommand::parse(&words)
}

#[test]
fn class_lists_are_read_as_memcached_reads_them() {
    use CrawlerCommand::*;
    use DumpFormat::*;
    assert_eq!(parse("metadump all"), Ok(Dump(Metadump)));
    assert_eq!(parse("metadump hash"), Ok(Dump(Metadump)));
    assert_eq!(parse("mgdump all"), Ok(Dump(Mgdump)));
    for holding in ["1", "01", "1,", ",1", "1,1", "2,1"] {
        assert_eq!(parse(&format!("metadump {holding}")), Ok(Dump(Metadump)), "{holding}");
    }
    for empty in ["2", "63", "2,63"] {
        assert_eq!(parse(&format!("metadump {empty}")), Ok(EmptyDump(Metadump)), "{empty}");
    }
    assert_eq!(parse("metadump ,"), Ok(NotStarted));
    for bad in ["0", "64", "-1", "ALL", "foo", "1,x"] {
        assert_eq!(parse(&format!("metadump {bad}")), Ok(BadClass), "{bad}");
    }
    assert_eq!(parse("crawl 1"), Ok(Accepted));
    assert_eq!(parse("crawl 99"), Ok(BadClass));
    assert_eq!(parse("sleep 1000000"), Ok(Accepted));
    assert_eq!(parse("sleep 1000001"), Err(Error::SleepTooLong));
    assert_eq!(parse("sleep -1"), Err(Error::BadCommandLine));
    assert_eq!(parse("tocrawl x"), Err(Error::BadCommandLine));
    for unknown in ["metadump", "metadump all x", "enable x", "foo", "crawl"] {
        assert_eq!(parse(unknown), Err(Error::UnknownCommand), "{unknown}");
    }
}
