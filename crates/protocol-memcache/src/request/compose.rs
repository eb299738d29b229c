//! Requests in their wire form, as a client sends them.

use super::{Request, StoreCommand};
use crate::key::{Key, encode_base64};
use crate::meta::{MetaCommand, MetaFlags};
use crate::number::{write_i64, write_u64};

impl Request<'_> {
    /// Appends the request's wire form to `out` (client side); nothing for
    /// [`Request::TooLarge`], whose value was never read.
    pub fn compose(&self, out: &mut Vec<u8>) {
        let noreply = |out: &mut Vec<u8>, noreply: bool| {
            if noreply {
                out.extend_from_slice(b" noreply");
            }
        };
        match *self {
            Request::Get { keys, cas, .. } => {
                out.extend_from_slice(if cas { b"gets " } else { b"get " });
                out.extend_from_slice(keys.as_text());
            }
            Request::GetAndTouch { exptime, keys, cas, .. } => {
                out.extend_from_slice(if cas { b"gats " } else { b"gat " });
                write_i64(out, exptime);
                out.push(b' ');
                out.extend_from_slice(keys.as_text());
            }
            Request::Store { command, key, flags, exptime, value, cas, noreply: quiet } => {
                out.extend_from_slice(command.name().as_bytes());
                out.push(b' ');
                out.extend_from_slice(key);
                out.push(b' ');
                write_u64(out, flags as u64);
                out.push(b' ');
                write_i64(out, exptime);
                out.push(b' ');
                write_u64(out, value.len() as u64);
                if command == StoreCommand::Cas {
                    out.push(b' ');
                    write_u64(out, cas);
                }
                noreply(out, quiet);
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(value);
            }
            // Its value was never read: nothing to send again.
            Request::TooLarge { .. } => return,
            Request::Delete { key, noreply: quiet } => {
                out.extend_from_slice(b"delete ");
                out.extend_from_slice(key);
                noreply(out, quiet);
            }
            Request::Arithmetic { key, delta, increment, noreply: quiet } => {
                out.extend_from_slice(if increment { b"incr " } else { b"decr " });
                out.extend_from_slice(key);
                out.push(b' ');
                write_u64(out, delta);
                noreply(out, quiet);
            }
            Request::Touch { key, exptime, noreply: quiet } => {
                out.extend_from_slice(b"touch ");
                out.extend_from_slice(key);
                out.push(b' ');
                write_i64(out, exptime);
                noreply(out, quiet);
            }
            Request::FlushAll { delay, noreply: quiet } => {
                out.extend_from_slice(b"flush_all");
                if delay != 0 {
                    out.push(b' ');
                    write_i64(out, delay);
                }
                noreply(out, quiet);
            }
            Request::Version => out.extend_from_slice(b"version"),
            Request::Quit => out.extend_from_slice(b"quit"),
            Request::LruCrawler(command) => command.compose(out),
            Request::Slabs { command, noreply: quiet } => {
                command.compose(out);
                noreply(out, quiet);
            }
            Request::Watch { kinds, noreply: quiet } => {
                out.extend_from_slice(b"watch");
                for name in kinds.names() {
                    out.push(b' ');
                    out.extend_from_slice(name.as_bytes());
                }
                noreply(out, quiet);
            }
            Request::Verbosity { level, noreply: quiet } => {
                out.extend_from_slice(b"verbosity ");
                write_u64(out, level as u64);
                noreply(out, quiet);
            }
            Request::Stats { group, argument } => {
                out.extend_from_slice(b"stats");
                for word in [group, argument].into_iter().flatten() {
                    out.push(b' ');
                    out.extend_from_slice(word);
                }
            }
            Request::MetaGet { key, flags } => compose_meta(out, MetaCommand::Get, &key, None, &flags),
            Request::MetaSet { key, flags, value } => {
                compose_meta(out, MetaCommand::Set, &key, Some(value.len()), &flags);
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(value);
            }
            Request::MetaDelete { key, flags } => compose_meta(out, MetaCommand::Delete, &key, None, &flags),
            Request::MetaArithmetic { key, flags } => {
                compose_meta(out, MetaCommand::Arithmetic, &key, None, &flags)
            }
            Request::MetaDebug { key, flags } => compose_meta(out, MetaCommand::Debug, &key, None, &flags),
            Request::MetaNoop => out.extend_from_slice(b"mn"),
            Request::Binary(request) => return request.compose(out),
        }
        out.extend_from_slice(b"\r\n");
    }
}

fn compose_meta(
    out: &mut Vec<u8>,
    command: MetaCommand,
    key: &Key<'_>,
    datalen: Option<usize>,
    flags: &MetaFlags<'_>,
) {
    out.extend_from_slice(command.code().as_bytes());
    out.push(b' ');
    if key.is_base64() {
        encode_base64(key, out);
    } else {
        out.extend_from_slice(key);
    }
    if let Some(datalen) = datalen {
        out.push(b' ');
        write_u64(out, datalen as u64);
    }
    if !flags.text.is_empty() {
        out.push(b' ');
        out.extend_from_slice(flags.text);
    }
}
