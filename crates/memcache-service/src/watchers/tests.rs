use super::*;

#[test]
fn lines_are_cut_to_fit_and_keys_are_percent_encoded() {
    let mut writer = LineWriter { line: Line { len: 0, bytes: [0; LINE_MAX] } };
    writer.text(b"key=").key(b"n,x y").text(b" size=").number(0).text(b" big=").number(u64::MAX);
    writer.end_line();
    assert_eq!(
        &writer.line.bytes[..writer.line.len as usize],
        b"key=n%2Cx%20y size=0 big=18446744073709551615\n"
    );
    let mut long = LineWriter { line: Line { len: 0, bytes: [0; LINE_MAX] } };
    long.key(&[b','; 600]);
    long.end_line();
    assert_eq!(long.line.len as usize, LINE_MAX);
    assert_eq!(long.line.bytes[LINE_MAX - 1], b'\n');
}
