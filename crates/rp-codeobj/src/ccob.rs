//! Compressed offload bundles, `CCOB` v1/v2/v3 with zlib or zstd (docs/code-objects.md).
//!
//! Decompression is always streamed: reaching the entry table costs only the first
//! few kilobytes of output, and a full (`deep`) pass checks the MD5-based hash in
//! constant memory.

use crate::{le_u16, le_u32, le_u64, Error, Result};
use md5::{Digest, Md5};
use std::io::{self, Read};

/// The 4-byte magic.
pub const MAGIC: &[u8; 4] = b"CCOB";

/// Largest uncompressed size accepted (docs/code-objects.md step 3).
pub const MAX_UNCOMPRESSED: u64 = 16 << 30;
/// Largest ratio of declared uncompressed size to compressed size accepted. Real
/// bundles compress 3–20×, with alignment padding a little more; a declared size far
/// beyond that is a decompression bomb.
pub const MAX_RATIO: u64 = 4096;

/// Compression method (`llvm::compression::Format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// 0: zlib (RFC 1950).
    Zlib,
    /// 1: zstd.
    Zstd,
}

impl Method {
    /// Lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::Zlib => "zlib",
            Method::Zstd => "zstd",
        }
    }
}

/// A parsed CCOB header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version: 1, 2 or 3.
    pub version: u16,
    /// Compression method.
    pub method: Method,
    /// Header plus compressed payload, for v2/v3. v1 has none: its data runs to the
    /// end of the containing buffer.
    pub total_size: Option<u64>,
    /// Size of the decompressed bundle.
    pub uncompressed_size: u64,
    /// First 8 bytes of MD5(uncompressed bundle), as u64 LE.
    pub hash: u64,
    /// Offset of the compressed data.
    pub header_len: usize,
}

/// Parse the header at the start of `data`, which must hold the whole compressed
/// bundle (v2/v3 sizes are checked against it).
pub fn parse_header(data: &[u8]) -> Result<Header> {
    let h = parse_fields(data)?;
    if let Some(total) = h.total_size {
        if total > data.len() as u64 {
            return Err(Error::OutOfBounds {
                what: "CCOB payload",
                offset: 0,
                size: total,
                avail: data.len() as u64,
            });
        }
    }
    Ok(h)
}

/// Parse the header fields at the start of `data`, which may be only a prefix of the
/// compressed bundle (a stream capture).
pub fn parse_fields(data: &[u8]) -> Result<Header> {
    if data.get(..4) != Some(MAGIC) {
        return Err(Error::BadMagic("CCOB"));
    }
    let trunc = || Error::Truncated("CCOB header");
    let version = le_u16(data, 4).ok_or_else(trunc)?;
    let method = match le_u16(data, 6).ok_or_else(trunc)? {
        0 => Method::Zlib,
        1 => Method::Zstd,
        m => return Err(Error::Unsupported(format!("CCOB compression method {m}"))),
    };
    let h = match version {
        1 => Header {
            version,
            method,
            total_size: None,
            uncompressed_size: le_u32(data, 8).ok_or_else(trunc)? as u64,
            hash: le_u64(data, 12).ok_or_else(trunc)?,
            header_len: 20,
        },
        2 => Header {
            version,
            method,
            total_size: Some(le_u32(data, 8).ok_or_else(trunc)? as u64),
            uncompressed_size: le_u32(data, 12).ok_or_else(trunc)? as u64,
            hash: le_u64(data, 16).ok_or_else(trunc)?,
            header_len: 24,
        },
        3 => Header {
            version,
            method,
            total_size: Some(le_u64(data, 8).ok_or_else(trunc)?),
            uncompressed_size: le_u64(data, 16).ok_or_else(trunc)?,
            hash: le_u64(data, 24).ok_or_else(trunc)?,
            header_len: 32,
        },
        v => return Err(Error::Unsupported(format!("CCOB version {v}"))),
    };
    if let Some(total) = h.total_size {
        if total < h.header_len as u64 {
            return Err(Error::Invalid("CCOB total size is smaller than its header"));
        }
    }
    Ok(h)
}

impl Header {
    /// The compressed payload inside `data` (which starts at the magic).
    pub fn payload<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        let end = self
            .total_size
            .map_or(data.len(), |t| t as usize)
            .min(data.len());
        data.get(self.header_len..end).unwrap_or_default()
    }

    /// Bytes the whole compressed bundle occupies in `data`.
    pub fn extent(&self, data: &[u8]) -> u64 {
        self.total_size.unwrap_or(data.len() as u64)
    }

    /// A stream of the decompressed bundle, bounded by the declared size and checked
    /// against decompression bombs.
    pub fn decoder<'a>(&self, data: &'a [u8]) -> Result<Box<dyn Read + 'a>> {
        let payload = self.payload(data);
        let limit = (payload.len() as u64)
            .saturating_mul(MAX_RATIO)
            .max(1 << 20);
        if self.uncompressed_size > MAX_UNCOMPRESSED || self.uncompressed_size > limit {
            return Err(Error::Limit {
                what: "CCOB uncompressed size",
                value: self.uncompressed_size,
            });
        }
        let inner: Box<dyn Read + 'a> = match self.method {
            Method::Zlib => Box::new(flate2::read::ZlibDecoder::new(payload)),
            Method::Zstd => {
                let mut d = zstd::stream::read::Decoder::with_buffer(payload)
                    .map_err(|e| Error::Decompress(e.to_string()))?;
                // A window never needs to exceed the content; refuse frames that ask
                // for more memory than the declared size justifies.
                let log = (64 - self.uncompressed_size.max(1024).leading_zeros()).clamp(10, 27);
                d.window_log_max(log)
                    .map_err(|e| Error::Decompress(e.to_string()))?;
                Box::new(d.single_frame())
            }
        };
        Ok(Box::new(inner.take(self.uncompressed_size)))
    }

    /// Decompress the whole payload in a stream, checking that it has the declared
    /// size and hash. Returns nothing: used by deep inspection and tests.
    pub fn verify(&self, data: &[u8]) -> Result<()> {
        let mut r = HashingReader::new(self.decoder(data)?);
        let n = io::copy(&mut r, &mut io::sink()).map_err(|e| Error::Decompress(e.to_string()))?;
        if n != self.uncompressed_size {
            return Err(Error::Decompress(format!(
                "payload is {n} bytes, header says {}",
                self.uncompressed_size
            )));
        }
        if r.hash() != self.hash {
            return Err(Error::Decompress(format!(
                "hash mismatch: header {:#018x}, payload {:#018x}",
                self.hash,
                r.hash()
            )));
        }
        Ok(())
    }
}

/// The CCOB hash of a buffer: the low 8 bytes of its MD5 as u64 LE.
pub fn hash(data: &[u8]) -> u64 {
    let d = Md5::digest(data);
    u64::from_le_bytes(d[..8].try_into().expect("md5 is 16 bytes"))
}

/// A reader that hashes what passes through it with MD5.
pub struct HashingReader<R> {
    inner: R,
    md5: Md5,
}

impl<R: Read> HashingReader<R> {
    /// Wrap `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            md5: Md5::new(),
        }
    }
    /// The CCOB hash of everything read so far.
    pub fn hash(&self) -> u64 {
        let d = self.md5.clone().finalize();
        u64::from_le_bytes(d[..8].try_into().expect("md5 is 16 bytes"))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.md5.update(&buf[..n]);
        Ok(n)
    }
}
