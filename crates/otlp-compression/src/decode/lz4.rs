//! LZ4 frames: lz4_flex's frame decoder, fed through a watcher of the framing.
//!
//! lz4_flex's `FrameDecoder` ends its output at the end of every frame, and
//! also, as if the body were complete, when the input runs out right after a
//! magic number or between two blocks. [`Frames`] follows the structure of the
//! bytes it hands to the decoder (magic number, frame descriptor, block sizes,
//! end mark, content checksum), so that [`Decoder`] can tell the end of a
//! frame from a cut: it goes on to the next frame while input is left, and
//! input that ends anywhere but between two frames is truncated.
//!
//! The watcher also reads each frame header before the decoder does, which
//! lets it skip skippable frames (the decoder refuses them), refuse the legacy
//! format (8 MiB blocks), refuse a declared content size over the limit before
//! the decoder allocates anything, and give each differently shaped frame a
//! fresh decoder (lz4_flex sizes its buffers for the first frame it reads).

use std::io::{self, BufRead, Read};

use lz4_flex::frame::FrameDecoder;

/// The LZ4 frame format's magic number (little-endian on the wire).
const MAGIC: u32 = 0x184D_2204;
/// The legacy format written by `lz4 -l`.
const LEGACY_MAGIC: u32 = 0x184C_2102;
/// Skippable frames: 16 magic numbers, then a 4-byte length and user data.
const SKIPPABLE_MAGIC: std::ops::RangeInclusive<u32> = 0x184D_2A50..=0x184D_2A5F;

/// Frame descriptor flags (FLG byte).
const FLG_INDEPENDENT_BLOCKS: u8 = 0x20;
const FLG_BLOCK_CHECKSUM: u8 = 0x10;
const FLG_CONTENT_SIZE: u8 = 0x08;
const FLG_CONTENT_CHECKSUM: u8 = 0x04;
const FLG_DICTIONARY_ID: u8 = 0x01;

/// Magic number (4) + FLG, BD (2) + content size (8) + dictionary id (4) + header checksum (1).
const MAX_HEADER: usize = 19;

/// A reader of the decompressed content of one or more LZ4 frames, which
/// fails with `UnexpectedEof` if the input is cut anywhere.
pub(super) struct Decoder<R: BufRead> {
    /// Always `Some` between calls: taken only to be replaced by a fresh decoder.
    decoder: Option<FrameDecoder<Frames<R>>>,
}

impl<R: BufRead> Decoder<R> {
    /// Decodes `input`; a frame that declares more than `limit` bytes of
    /// content fails before it is decoded (see [`over_limit`](Self::over_limit)).
    pub(super) fn new(input: R, limit: usize) -> Self {
        Decoder {
            decoder: Some(FrameDecoder::new(Frames::new(input, limit))),
        }
    }

    /// Whether decoding failed because a frame declared a content size over the limit.
    pub(super) fn over_limit(&self) -> bool {
        self.decoder
            .as_ref()
            .is_some_and(|decoder| decoder.get_ref().over_limit)
    }

    fn decoder(&mut self) -> io::Result<&mut FrameDecoder<Frames<R>>> {
        // `None` only between taking the decoder and putting a new one back.
        self.decoder
            .as_mut()
            .ok_or_else(|| io::Error::other("the LZ4 decoder was lost"))
    }

    fn frames(&mut self) -> io::Result<&mut Frames<R>> {
        self.decoder().map(FrameDecoder::get_mut)
    }
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        super::read_from_buf(self, buf)
    }
}

/// The decoder's own buffer is handed out as it is, so that the caller can
/// append it to its output without a zeroed intermediate buffer.
impl<R: BufRead> BufRead for Decoder<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        loop {
            let before = self.frames()?.position;
            let decoder = self.decoder()?;
            if !decoder.fill_buf()?.is_empty() {
                break;
            }
            // The decoder has nothing at the end of each frame, after a block
            // of no content, and when the input runs out, wherever that is.
            let frames = self.frames()?;
            if frames.position == before {
                // Only the end of the input stops the decoder without consuming any.
                return match frames.at_boundary() && frames.frames > 0 {
                    true => Ok(&[]),
                    false => Err(io::ErrorKind::UnexpectedEof.into()),
                };
            }
            if !frames.at_boundary() {
                continue;
            }
            let finished = frames.shape;
            match frames.read_header()? {
                None if frames.frames > 0 => return Ok(&[]),
                None => return Err(io::ErrorKind::UnexpectedEof.into()),
                Some(next) if Some(next) == finished => {}
                Some(_) => {
                    // lz4_flex keeps the buffers of its first frame and expects
                    // every later one to need the same; a new frame of another
                    // block size or mode gets a new decoder.
                    if let Some(decoder) = self.decoder.take() {
                        self.decoder = Some(FrameDecoder::new(decoder.into_inner()));
                    }
                }
            }
        }
        // Data is buffered: this returns it without reading.
        self.decoder()?.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Some(decoder) = self.decoder.as_mut() {
            decoder.consume(amt);
        }
    }
}

/// What makes lz4_flex size its buffers: the BD byte (block maximum size) and
/// whether blocks are independent.
type Shape = (u8, bool);

/// The compressed input, handed to the decoder while its framing is followed.
struct Frames<R> {
    inner: R,
    part: Part,
    /// The header being read ahead (magic number and descriptor), or that of
    /// the frame being decoded.
    header: [u8; MAX_HEADER],
    /// How many bytes of `header` are read (while reading ahead) or handed
    /// to the decoder (while handing it over).
    header_at: usize,
    /// The bytes of a block size read so far.
    size: [u8; 4],
    size_at: usize,
    /// FLG of the frame being decoded.
    flags: u8,
    /// The shape of the frame being decoded, once its header is read.
    shape: Option<Shape>,
    /// Frames, skippable ones included, read to their end.
    frames: u64,
    /// Input bytes consumed.
    position: u64,
    limit: usize,
    over_limit: bool,
}

/// Where in the framing the next input byte is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// A frame header, read ahead of the decoder into `header`. Only here,
    /// with nothing of it read yet, may the input end.
    Header,
    /// The `len` bytes of header in `header`, being handed to the decoder.
    Hand { len: usize },
    /// A block's 4-byte size (0: the end mark).
    BlockSize,
    /// A block's data and checksum.
    Block { left: u64 },
    /// The content checksum after the end mark.
    ContentChecksum { left: u64 },
    /// The user data of a skippable frame, consumed here.
    Skip { left: u64 },
}

impl<R: BufRead> Frames<R> {
    fn new(inner: R, limit: usize) -> Self {
        Frames {
            inner,
            part: Part::Header,
            header: [0; MAX_HEADER],
            header_at: 0,
            size: [0; 4],
            size_at: 0,
            flags: 0,
            shape: None,
            frames: 0,
            position: 0,
            limit,
            over_limit: false,
        }
    }

    /// Between two frames (or before the first), nothing of the next read.
    fn at_boundary(&self) -> bool {
        self.part == Part::Header && self.header_at == 0
    }

    /// Reads ahead the next frame's header, skipping skippable frames, and
    /// returns its shape; `None` if the input ends before the header starts.
    fn read_header(&mut self) -> io::Result<Option<Shape>> {
        loop {
            match self.part {
                Part::Hand { .. } => return Ok(self.shape),
                Part::Header | Part::Skip { .. } => {}
                // Called between frames only.
                _ => return Err(io::Error::other("LZ4 header expected mid-frame")),
            }
            let wanted = match self.part {
                Part::Skip { left } => clamp(left),
                _ => self.header_len() - self.header_at,
            };
            let available = self.inner.fill_buf()?;
            if available.is_empty() {
                let boundary = self.part == Part::Header && self.header_at == 0;
                return match boundary {
                    true => Ok(None),
                    false => Err(io::ErrorKind::UnexpectedEof.into()),
                };
            }
            let n = available.len().min(wanted);
            if self.part == Part::Header {
                self.header[self.header_at..self.header_at + n].copy_from_slice(&available[..n]);
            }
            self.inner.consume(n);
            self.position += n as u64;
            match self.part {
                Part::Skip { left } => self.skipped(left - n as u64),
                _ => {
                    self.header_at += n;
                    if self.header_at == self.header_len() {
                        self.header_read()?;
                    }
                }
            }
        }
    }

    /// How long the header being read ahead is, as far as its bytes so far
    /// tell; once `header_at` reaches it, the header is complete.
    fn header_len(&self) -> usize {
        if self.header_at < 4 {
            return 4;
        }
        match u32::from_le_bytes(self.magic()) {
            MAGIC if self.header_at < 5 => 5,
            MAGIC => {
                let flags = self.header[4];
                let mut len = 4 + 2 + 1;
                if flags & FLG_CONTENT_SIZE != 0 {
                    len += 8;
                }
                if flags & FLG_DICTIONARY_ID != 0 {
                    len += 4;
                }
                len
            }
            magic if SKIPPABLE_MAGIC.contains(&magic) => 8,
            // Anything else is refused as soon as its magic number is read.
            _ => 4,
        }
    }

    fn magic(&self) -> [u8; 4] {
        [
            self.header[0],
            self.header[1],
            self.header[2],
            self.header[3],
        ]
    }

    /// Acts on a header read up to [`header_len`](Self::header_len).
    fn header_read(&mut self) -> io::Result<()> {
        match u32::from_le_bytes(self.magic()) {
            MAGIC => {}
            magic if SKIPPABLE_MAGIC.contains(&magic) => {
                let len = u32::from_le_bytes([
                    self.header[4],
                    self.header[5],
                    self.header[6],
                    self.header[7],
                ]);
                self.skipped(u64::from(len));
                return Ok(());
            }
            LEGACY_MAGIC => {
                return Err(invalid(
                    "legacy LZ4 format (as `lz4 -l` writes it); send the LZ4 frame format",
                ));
            }
            _ => return Err(invalid("not an LZ4 frame: unknown magic number")),
        }
        self.flags = self.header[4];
        if self.flags & FLG_CONTENT_SIZE != 0 {
            let mut size = [0; 8];
            size.copy_from_slice(&self.header[6..14]);
            if u64::from_le_bytes(size) > self.limit as u64 {
                self.over_limit = true;
                return Err(io::Error::other(
                    "the LZ4 frame declares more content than the limit",
                ));
            }
        }
        self.shape = Some((self.header[5], self.flags & FLG_INDEPENDENT_BLOCKS != 0));
        self.part = Part::Hand {
            len: self.header_at,
        };
        self.header_at = 0;
        Ok(())
    }

    /// After `left` more bytes of a skippable frame.
    fn skipped(&mut self, left: u64) {
        if left == 0 {
            self.frame_done();
        } else {
            self.part = Part::Skip { left };
        }
    }

    fn frame_done(&mut self) {
        self.frames += 1;
        self.part = Part::Header;
        self.header_at = 0;
    }

    /// Follows the framing over `bytes`, just handed to the decoder, which
    /// lie within the current part.
    fn handed(&mut self, bytes: &[u8]) {
        let n = bytes.len() as u64;
        match self.part {
            Part::BlockSize => {
                self.size[self.size_at..self.size_at + bytes.len()].copy_from_slice(bytes);
                self.size_at += bytes.len();
                if self.size_at == 4 {
                    self.size_at = 0;
                    self.block_size_read(u32::from_le_bytes(self.size));
                }
            }
            Part::Block { left } => {
                self.part = match left - n {
                    0 => Part::BlockSize,
                    left => Part::Block { left },
                }
            }
            Part::ContentChecksum { left } => match left - n {
                0 => self.frame_done(),
                left => self.part = Part::ContentChecksum { left },
            },
            Part::Header | Part::Hand { .. } | Part::Skip { .. } => {}
        }
    }

    fn block_size_read(&mut self, size: u32) {
        if size == 0 {
            // The end mark.
            if self.flags & FLG_CONTENT_CHECKSUM != 0 {
                self.part = Part::ContentChecksum { left: 4 };
            } else {
                self.frame_done();
            }
            return;
        }
        // The high bit marks a block stored uncompressed.
        let mut left = u64::from(size & 0x7fff_ffff);
        if self.flags & FLG_BLOCK_CHECKSUM != 0 {
            left += 4;
        }
        self.part = match left {
            0 => Part::BlockSize,
            left => Part::Block { left },
        };
    }

    /// How many bytes the current part has left (at most `usize::MAX`).
    fn part_left(&self) -> usize {
        match self.part {
            Part::BlockSize => 4 - self.size_at,
            Part::Block { left } | Part::ContentChecksum { left } | Part::Skip { left } => {
                clamp(left)
            }
            Part::Header | Part::Hand { .. } => 0,
        }
    }
}

impl<R: BufRead> Read for Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.part == Part::Header && self.read_header()?.is_none() {
            return Ok(0);
        }
        if let Part::Hand { len } = self.part {
            let n = buf.len().min(len - self.header_at);
            buf[..n].copy_from_slice(&self.header[self.header_at..self.header_at + n]);
            self.header_at += n;
            if self.header_at == len {
                self.part = Part::BlockSize;
                self.header_at = 0;
            }
            return Ok(n);
        }
        let left = self.part_left();
        let available = self.inner.fill_buf()?;
        let n = available.len().min(buf.len()).min(left);
        buf[..n].copy_from_slice(&available[..n]);
        self.inner.consume(n);
        self.position += n as u64;
        self.handed(&buf[..n]);
        Ok(n)
    }
}

fn clamp(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn invalid(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}
