//! Frame Streams (the transport of dnstap, farsightsec/fstrm's protocol), the writer's side: data frames
//! are a 32-bit big-endian length and the payload; control frames are an escape (length 0), their own
//! length, a type and fields (here only the content type). A file is unidirectional (START ... STOP);
//! a socket's reader takes part: READY from the writer, ACCEPT back, START, data, STOP, FINISH back.
//!
//! No maintained crate does this (the `framestream` and `dnstap` crates were last released in 2020, on
//! mio 0.6 and protobuf 1), and the protocol is a page: written here.

use std::io::{self, Read, Write};

const ACCEPT: u32 = 1;
const START: u32 = 2;
const STOP: u32 = 3;
const READY: u32 = 4;
const FINISH: u32 = 5;
const FIELD_CONTENT_TYPE: u32 = 1;
/// The longest control frame read from a reader (fstrm's own limit is 512).
const MAX_CONTROL: usize = 512;

/// One control frame of type `kind` with `content_type` (none for STOP and FINISH), escape included.
fn control(kind: u32, content_type: Option<&[u8]>) -> Vec<u8> {
    let mut body = kind.to_be_bytes().to_vec();
    if let Some(ct) = content_type {
        body.extend_from_slice(&FIELD_CONTENT_TYPE.to_be_bytes());
        body.extend_from_slice(&(ct.len() as u32).to_be_bytes());
        body.extend_from_slice(ct);
    }
    let mut f = 0u32.to_be_bytes().to_vec();
    f.extend_from_slice(&(body.len() as u32).to_be_bytes());
    f.extend_from_slice(&body);
    f
}

/// Read one control frame: its type and whether it names `content_type` (or names none).
fn read_control(r: &mut impl Read, content_type: &[u8]) -> io::Result<(u32, bool)> {
    let mut w = [0u8; 4];
    r.read_exact(&mut w)?;
    if w != [0; 4] {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "a data frame where a control frame was due"));
    }
    r.read_exact(&mut w)?;
    let len = u32::from_be_bytes(w) as usize;
    if !(4..=MAX_CONTROL).contains(&len) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("control frame of {len} octets")));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    let kind = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    let (mut rest, mut named, mut any) = (&body[4..], false, false);
    while rest.len() >= 8 {
        let field = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let flen = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let Some(value) = rest.get(8..8 + flen) else { break };
        if field == FIELD_CONTENT_TYPE {
            any = true;
            named |= value == content_type;
        }
        rest = &rest[8 + flen..];
    }
    Ok((kind, named || !any))
}

/// Open a unidirectional stream (a file): START.
pub fn start_file(w: &mut impl Write, content_type: &[u8]) -> io::Result<()> {
    w.write_all(&control(START, Some(content_type)))
}

/// Open a bidirectional stream (a socket's reader): READY, wait for ACCEPT of `content_type`, START.
pub fn start_socket<S: Read + Write>(s: &mut S, content_type: &[u8]) -> io::Result<()> {
    s.write_all(&control(READY, Some(content_type)))?;
    s.flush()?;
    match read_control(s, content_type)? {
        (ACCEPT, true) => {}
        (ACCEPT, false) => return Err(io::Error::new(io::ErrorKind::InvalidData, "the reader does not accept dnstap")),
        (kind, _) => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("control frame {kind} where ACCEPT was due"))),
    }
    s.write_all(&control(START, Some(content_type)))
}

/// One data frame.
pub fn data(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    w.write_all(&(payload.len() as u32).to_be_bytes())?;
    w.write_all(payload)
}

/// Close a stream: STOP (a socket's reader then answers FINISH, which `finish` waits for).
pub fn stop(w: &mut impl Write) -> io::Result<()> {
    w.write_all(&control(STOP, None))?;
    w.flush()
}

/// A socket's reader's FINISH after STOP.
pub fn finish(r: &mut impl Read) -> io::Result<()> {
    match read_control(r, b"")? {
        (FINISH, _) => Ok(()),
        (kind, _) => Err(io::Error::new(io::ErrorKind::InvalidData, format!("control frame {kind} where FINISH was due"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_fstrms() {
        let mut out = Vec::new();
        start_file(&mut out, b"protobuf:dnstap.Dnstap").unwrap();
        data(&mut out, b"abc").unwrap();
        stop(&mut out).unwrap();
        let ct = b"protobuf:dnstap.Dnstap";
        let mut want = vec![0, 0, 0, 0, 0, 0, 0, (12 + ct.len()) as u8, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, ct.len() as u8];
        want.extend_from_slice(ct);
        want.extend_from_slice(&[0, 0, 0, 3, b'a', b'b', b'c']);
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3]);
        assert_eq!(out, want);
    }

    #[test]
    fn reader_frames_are_checked() {
        let ct = b"protobuf:dnstap.Dnstap";
        let accept = control(ACCEPT, Some(ct));
        assert_eq!(read_control(&mut &accept[..], ct).unwrap(), (ACCEPT, true));
        assert_eq!(read_control(&mut &control(ACCEPT, Some(b"other"))[..], ct).unwrap(), (ACCEPT, false));
        assert_eq!(read_control(&mut &control(FINISH, None)[..], ct).unwrap(), (FINISH, true));
        assert!(read_control(&mut &[0, 0, 0, 3, 1, 2, 3][..], ct).is_err(), "a data frame");
        assert!(read_control(&mut &[0, 0, 0, 0, 0xff, 0, 0, 0][..], ct).is_err(), "too long");
        assert!(read_control(&mut &accept[..accept.len() - 1], ct).is_err(), "cut short");
    }
}
