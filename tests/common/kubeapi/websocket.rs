//! The server side of `kubectl attach` over WebSocket, as the API server speaks it to kubectl
//! 1.30 and later: RFC 6455 framing with Kubernetes' `v5.channel.k8s.io` subprotocol, where the
//! first byte of each binary message names the stream (0 stdin, 1 stdout, 2 stderr, 3 the error
//! stream's `Status`, 255 "this stream is closed", followed by its number). v5 is the version in
//! which a client can say that its stdin ended, which is what `kubectl svcprobe` needs to hand
//! svcprobe its objects; older clients and the SPDY protocol are refused.
//!
//! Only what the stand-in needs: one upgrade, client frames (masked) read until the client's stdin
//! closes, server frames (unmasked) written whole. SHA-1 and base64 are here for the handshake's
//! `Sec-WebSocket-Accept` only.

use std::io::{Read, Write};

pub const PROTOCOL: &str = "v5.channel.k8s.io";
pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const CLOSE: u8 = 255;
/// How much stdin the stand-in takes from one attach (svcprobe reads at most 32 MiB of objects).
const MAX_STDIN: usize = 40 << 20;

/// The `101 Switching Protocols` answer to a handshake carrying `key`.
pub fn accept_response(key: &str) -> String {
    let digest = sha1(format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: {PROTOCOL}\r\n\r\n",
        base64(&digest)
    )
}

/// Reads the client's messages until its stdin closes (or the connection does, or a close
/// frame comes): returns what it sent on stdin. Pings are answered.
pub fn read_stdin(conn: &mut (impl Read + Write)) -> Vec<u8> {
    let mut stdin = Vec::new();
    while let Some((opcode, payload)) = read_frame(conn) {
        match (opcode, payload.first()) {
            (0x8, _) => break,
            (0x9, _) if write_frame(conn, 0xA, &payload).is_err() => break,
            (0x2, Some(&STDIN)) => {
                stdin.extend_from_slice(&payload[1..]);
                if stdin.len() > MAX_STDIN {
                    break;
                }
            }
            (0x2, Some(&CLOSE)) if payload.get(1) == Some(&STDIN) => break,
            _ => {}
        }
    }
    stdin
}

/// Sends `data` on stream `channel`, in messages of at most 32 KiB.
pub fn send(conn: &mut impl Write, channel: u8, data: &[u8]) -> std::io::Result<()> {
    for chunk in data.chunks(32 << 10) {
        let mut message = vec![channel];
        message.extend_from_slice(chunk);
        write_frame(conn, 0x2, &message)?;
    }
    Ok(())
}

/// A normal close (1000).
pub fn close(conn: &mut impl Write) -> std::io::Result<()> {
    write_frame(conn, 0x8, &1000u16.to_be_bytes())
}

fn write_frame(conn: &mut impl Write, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n if n <= 0xFFFF => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    conn.write_all(&frame)?;
    conn.flush()
}

/// One whole message (continuation frames joined): opcode and unmasked payload.
fn read_frame(conn: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut opcode = None;
    let mut message = Vec::new();
    loop {
        let mut head = [0u8; 2];
        conn.read_exact(&mut head).ok()?;
        let fin = head[0] & 0x80 != 0;
        opcode.get_or_insert(head[0] & 0x0F);
        let len = match head[1] & 0x7F {
            126 => {
                let mut b = [0u8; 2];
                conn.read_exact(&mut b).ok()?;
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                conn.read_exact(&mut b).ok()?;
                usize::try_from(u64::from_be_bytes(b)).ok()?
            }
            n => n as usize,
        };
        if len > MAX_STDIN {
            return None;
        }
        let mut mask = [0u8; 4];
        if head[1] & 0x80 != 0 {
            conn.read_exact(&mut mask).ok()?;
        }
        let mut payload = vec![0u8; len];
        conn.read_exact(&mut payload).ok()?;
        payload
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b ^= mask[i % 4]);
        message.extend_from_slice(&payload);
        if fin {
            return Some((opcode?, message));
        }
    }
}

/// SHA-1 (FIPS 180-4), for the handshake only.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut padded = data.to_vec();
    padded.push(0x80);
    while padded.len() % 64 != 56 {
        padded.push(0);
    }
    padded.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in padded.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (hi, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hi = hi.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 0x3F) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
