//! MySQL packet framing: a 3-byte length, a sequence id, and the payload; payloads of
//! 16 MiB - 1 bytes or more continue in the next packet.
//!
//! The reader enforces the protocol's rules that protect the server: a command must start
//! with sequence id 0, continuation packets must follow in order, and no payload may exceed
//! `max_allowed_packet`. A violation ends that connection only.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest payload of one physical packet.
pub const MAX_CHUNK: usize = 0xFF_FFFF;

#[derive(Debug, thiserror::Error)]
pub enum PacketError {
    #[error("connection closed")]
    Closed,
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("packets out of order: expected sequence id {expected}, got {got}")]
    Sequence { expected: u8, got: u8 },
    #[error("got a packet bigger than 'max_allowed_packet' bytes")]
    TooLarge,
}

pub struct PacketReader<R> {
    inner: R,
    max_payload: usize,
}

impl<R: AsyncRead + Unpin> PacketReader<R> {
    pub fn new(inner: R, max_payload: usize) -> Self {
        PacketReader { inner, max_payload }
    }

    /// Reads one logical packet. `expected_seq` is the sequence id the first physical
    /// packet must carry; returns the payload and the sequence id of the last piece.
    pub async fn read(&mut self, expected_seq: u8) -> Result<(Vec<u8>, u8), PacketError> {
        let mut payload = Vec::new();
        let mut expected = expected_seq;
        loop {
            let mut header = [0u8; 4];
            match self.inner.read_exact(&mut header).await {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && payload.is_empty() => {
                    return Err(PacketError::Closed)
                }
                Err(e) => return Err(e.into()),
            }
            let len =
                usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
            let seq = header[3];
            if seq != expected {
                return Err(PacketError::Sequence { expected, got: seq });
            }
            if payload.len() + len > self.max_payload {
                return Err(PacketError::TooLarge);
            }
            let start = payload.len();
            payload.resize(start + len, 0);
            self.inner.read_exact(&mut payload[start..]).await?;
            if len < MAX_CHUNK {
                return Ok((payload, seq));
            }
            expected = expected.wrapping_add(1);
        }
    }
}

/// Buffers outgoing packets and numbers them; `flush` sends everything at once.
pub struct PacketWriter<W> {
    inner: W,
    buf: Vec<u8>,
    pub seq: u8,
}

impl<W: AsyncWrite + Unpin> PacketWriter<W> {
    pub fn new(inner: W) -> Self {
        PacketWriter {
            inner,
            buf: Vec::with_capacity(8192),
            seq: 0,
        }
    }

    /// Appends one logical packet, split into physical packets as the protocol requires.
    pub fn packet(&mut self, payload: &[u8]) {
        let mut rest = payload;
        loop {
            let n = rest.len().min(MAX_CHUNK);
            self.buf.extend_from_slice(&[
                (n & 0xFF) as u8,
                ((n >> 8) & 0xFF) as u8,
                ((n >> 16) & 0xFF) as u8,
                self.seq,
            ]);
            self.buf.extend_from_slice(&rest[..n]);
            self.seq = self.seq.wrapping_add(1);
            rest = &rest[n..];
            if n < MAX_CHUNK {
                return;
            }
        }
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.inner.write_all(&self.buf).await?;
            self.buf.clear();
        }
        self.inner.flush().await
    }
}

// ---- payload encoding helpers ----------------------------------------------------------------

pub fn put_lenenc_int(out: &mut Vec<u8>, v: u64) {
    if v < 251 {
        out.push(v as u8);
    } else if v < 1 << 16 {
        out.push(0xFC);
        out.extend_from_slice(&(v as u16).to_le_bytes());
    } else if v < 1 << 24 {
        out.push(0xFD);
        out.extend_from_slice(&(v as u32).to_le_bytes()[..3]);
    } else {
        out.push(0xFE);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

pub fn put_lenenc_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_lenenc_int(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A cursor over a received payload; every read is bounds-checked.
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("malformed packet")]
pub struct Malformed;

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let r = &self.data[self.pos..];
        self.pos = self.data.len();
        r
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.remaining() < n {
            return Err(Malformed);
        }
        let r = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(r)
    }

    pub fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, Malformed> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, Malformed> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, Malformed> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub fn lenenc_int(&mut self) -> Result<u64, Malformed> {
        match self.u8()? {
            0xFC => Ok(u64::from(self.u16()?)),
            0xFD => {
                let b = self.take(3)?;
                Ok(u64::from(b[0]) | u64::from(b[1]) << 8 | u64::from(b[2]) << 16)
            }
            0xFE => self.u64(),
            0xFB | 0xFF => Err(Malformed),
            v => Ok(u64::from(v)),
        }
    }

    pub fn lenenc_bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let n = self.lenenc_int()?;
        let n = usize::try_from(n).map_err(|_| Malformed)?;
        self.take(n)
    }

    /// Bytes up to a NUL (consumed); the whole rest when there is no NUL.
    pub fn nul_terminated(&mut self) -> &'a [u8] {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == 0) {
            Some(i) => {
                self.pos += i + 1;
                &rest[..i]
            }
            None => self.rest(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn split_packets_reassemble_and_sequence_is_checked() {
        let payload = vec![7u8; MAX_CHUNK + 10];
        let mut w = PacketWriter::new(Vec::new());
        w.packet(&payload);
        let bytes = std::mem::take(&mut w.buf);
        let mut r = PacketReader::new(&bytes[..], 64 << 20);
        let (got, last_seq) = r.read(0).await.expect("reassembled");
        assert_eq!(got.len(), payload.len());
        assert_eq!(last_seq, 1);

        let mut r = PacketReader::new(&bytes[..], 64 << 20);
        assert!(matches!(
            r.read(3).await,
            Err(PacketError::Sequence {
                expected: 3,
                got: 0
            })
        ));

        let mut r = PacketReader::new(&bytes[..], 1024);
        assert!(matches!(r.read(0).await, Err(PacketError::TooLarge)));
    }

    #[test]
    fn lenenc_round_trip() {
        for v in [
            0u64,
            250,
            251,
            65535,
            65536,
            (1 << 24) - 1,
            1 << 24,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_lenenc_int(&mut out, v);
            assert_eq!(Cursor::new(&out).lenenc_int().expect("decodes"), v);
        }
        assert!(Cursor::new(&[0xFC, 1]).lenenc_int().is_err());
    }
}
