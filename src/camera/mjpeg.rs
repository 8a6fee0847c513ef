//! Incremental parser for MJPEG over HTTP (`multipart/x-mixed-replace`), as served by ESP32
//! CameraWebServer and most IP cameras, and for bare concatenated JPEGs.
//!
//! Bytes go in with [`MjpegParser::push`] in whatever pieces the socket returns; whole, validated JPEG
//! frames come out of [`MjpegParser::next_part`] as zero-copy slices of the receive buffer. The end of a
//! JPEG is found from the JPEG itself (see [`super::jpeg`]): Content-Length is used when it agrees with
//! the data, and boundaries only separate parts, since JPEG bytes may contain boundary-like text.

use bytes::{Buf, Bytes, BytesMut};
use memchr::{memchr, memmem};

use super::jpeg::{JpegError, JpegInfo, JpegScanner};

/// One frame of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The JPEG, from SOI to EOI.
    pub data: Bytes,
    /// The part's `X-Timestamp` header (ESP32: seconds.micros of capture), if it had one.
    pub timestamp: Option<String>,
    /// The JPEG's dimensions, read on the way to its end, so that no one scans it again.
    pub info: Option<JpegInfo>,
}

/// Why the stream cannot go on; the caller should reconnect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MjpegError {
    #[error("MJPEG frame of {size} bytes or more exceeds the limit of {max} bytes")]
    FrameTooLarge { size: usize, max: usize },
    #[error("no JPEG frame in {bytes} bytes of MJPEG stream")]
    NoFrame { bytes: usize },
}

const SOI: [u8; 3] = [0xFF, 0xD8, 0xFF];
/// Part headers are a few lines; more than this without a blank line means we are not reading headers.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Longest delimiter line (RFC 2046 boundaries are at most 70 characters, plus padding).
const MAX_DELIMITER_LINE: usize = 256;
/// How much of the body may pass without the declared boundary before it is taken to be wrong.
const BOUNDARY_PROBE_BYTES: usize = 8 * 1024;
/// Receive buffer growth step: a few frames of a 720p camera.
const RESERVE_BYTES: usize = 512 * 1024;

enum Framing {
    /// Parts separated by delimiter lines that contain `finder`'s needle.
    Multipart { finder: Box<memmem::Finder<'static>>, seen: bool },
    /// No usable boundary yet: the body will show either a `--boundary` line or a JPEG first.
    Unknown { line_start: bool },
    /// JPEGs one after another, found by SOI and EOI.
    Raw,
}

enum State {
    /// Looking for the next delimiter (or SOI, when raw). Starts before `searched` hold no match.
    Seek { searched: usize },
    /// The buffer starts at a part's headers; lines before `scan` have been read.
    Headers { scan: usize, length: Option<usize>, timestamp: Option<String> },
    /// The buffer starts at a part's body. `length` is the Content-Length while it is still believed.
    Body { length: Option<usize>, timestamp: Option<String>, scanner: JpegScanner },
}

enum Step {
    Frame(Part),
    NeedMore,
    Again,
}

/// Incremental MJPEG stream parser; see the module documentation.
pub struct MjpegParser {
    buf: BytesMut,
    framing: Framing,
    state: State,
    max_frame_bytes: usize,
    /// Bytes thrown away since the last frame: too many means the stream is not MJPEG.
    skipped: usize,
    dropped: u64,
    failed: Option<MjpegError>,
}

impl MjpegParser {
    /// `content_type` is the response's Content-Type header value (may be None or lack a boundary).
    pub fn new(content_type: Option<&str>, max_frame_bytes: usize) -> Self {
        let framing = match content_type.and_then(boundary_param) {
            Some(boundary) => {
                // `boundary=--x` is written `----x` by some servers and `--x` by others; searching for
                // `--x` finds both. Otherwise the delimiter is `--` + boundary.
                let needle = if boundary.starts_with("--") { boundary.to_owned() } else { format!("--{boundary}") };
                Framing::Multipart {
                    finder: Box::new(memmem::Finder::new(needle.as_bytes()).into_owned()),
                    seen: false,
                }
            }
            None => Framing::Unknown { line_start: true },
        };
        MjpegParser {
            buf: BytesMut::new(),
            framing,
            state: State::Seek { searched: 0 },
            max_frame_bytes,
            skipped: 0,
            dropped: 0,
            failed: None,
        }
    }

    /// Appends bytes read from the socket (any split).
    pub fn push(&mut self, chunk: &[u8]) {
        if self.failed.is_none() {
            if self.buf.capacity() - self.buf.len() < chunk.len() {
                // Growing in big steps avoids re-copying a frame as its buffer doubles; a step is shared
                // by the frames split off it and freed with the last of them.
                self.buf.reserve(chunk.len().max(RESERVE_BYTES));
            }
            self.buf.extend_from_slice(chunk);
        }
    }

    /// The next complete frame, Ok(None) when more bytes are needed, Err for garbage that cannot be a
    /// stream. After an error the parser keeps returning it.
    pub fn next_part(&mut self) -> Result<Option<Part>, MjpegError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        loop {
            match self.step() {
                Ok(Step::Frame(part)) => return Ok(Some(part)),
                Ok(Step::NeedMore) => return Ok(None),
                Ok(Step::Again) => {}
                Err(err) => {
                    self.failed = Some(err.clone());
                    self.buf = BytesMut::new();
                    return Err(err);
                }
            }
        }
    }

    /// Parts whose JPEG was truncated or corrupt and was therefore not returned.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn step(&mut self) -> Result<Step, MjpegError> {
        match std::mem::replace(&mut self.state, State::Seek { searched: 0 }) {
            State::Seek { searched } => match self.framing {
                Framing::Multipart { .. } => self.seek_delimiter(searched),
                Framing::Unknown { line_start } => self.seek_unknown(line_start),
                Framing::Raw => self.seek_soi(searched),
            },
            State::Headers { scan, length, timestamp } => self.headers(scan, length, timestamp),
            State::Body { length, timestamp, scanner } => self.body(length, timestamp, scanner),
        }
    }

    /// Drops `n` bytes that are not part of a frame.
    fn discard(&mut self, n: usize) -> Result<(), MjpegError> {
        self.buf.advance(n);
        self.skipped += n;
        if self.skipped > self.max_frame_bytes {
            return Err(MjpegError::NoFrame { bytes: self.skipped });
        }
        Ok(())
    }

    fn start_body(&mut self, length: Option<usize>, timestamp: Option<String>) -> Step {
        self.state = State::Body { length, timestamp, scanner: JpegScanner::new() };
        Step::Again
    }

    fn seek_delimiter(&mut self, searched: usize) -> Result<Step, MjpegError> {
        let Framing::Multipart { finder, seen } = &mut self.framing else { return Ok(Step::Again) };
        let needle_len = finder.needle().len();
        let found = finder.find(&self.buf[searched..]).map(|i| searched + i);
        let Some(at) = found else {
            let searched = self.buf.len().saturating_sub(needle_len - 1);
            if !*seen {
                // Keep the start of the body until the boundary shows up: if it never does, the
                // declared boundary is wrong and the body must be read without it.
                if self.buf.len() >= BOUNDARY_PROBE_BYTES {
                    self.framing = Framing::Unknown { line_start: true };
                    return Ok(Step::Again);
                }
                self.state = State::Seek { searched };
                return Ok(Step::NeedMore);
            }
            self.discard(searched)?;
            return Ok(Step::NeedMore);
        };
        self.discard(at)?;
        let window = &self.buf[needle_len..self.buf.len().min(needle_len + MAX_DELIMITER_LINE)];
        let Some(eol) = memchr(b'\n', window) else {
            if window.len() == MAX_DELIMITER_LINE {
                self.discard(1)?;
                return Ok(Step::Again);
            }
            return Ok(Step::NeedMore);
        };
        let rest = window[..eol].trim_ascii();
        let (open, close) = (rest.is_empty(), rest.starts_with(b"--"));
        if open || close {
            if let Framing::Multipart { seen, .. } = &mut self.framing {
                *seen = true;
            }
            self.discard(needle_len + eol + 1)?;
            if open {
                self.state = State::Headers { scan: 0, length: None, timestamp: None };
            }
            // A close delimiter (`--boundary--`): the stream may still go on, so keep seeking.
            return Ok(Step::Again);
        }
        // The needle is the prefix of some other token; not a delimiter.
        self.discard(1)?;
        Ok(Step::Again)
    }

    fn seek_soi(&mut self, searched: usize) -> Result<Step, MjpegError> {
        match memmem::find(&self.buf[searched..], &SOI) {
            Some(i) => {
                self.discard(searched + i)?;
                Ok(self.start_body(None, None))
            }
            None => {
                self.discard(self.buf.len().saturating_sub(SOI.len() - 1))?;
                Ok(Step::NeedMore)
            }
        }
    }

    /// Without a boundary, the first `--token` line at a line start teaches it; a JPEG before any such
    /// line means the stream is bare JPEGs.
    fn seek_unknown(&mut self, line_start: bool) -> Result<Step, MjpegError> {
        let soi = memmem::find(&self.buf, &SOI);
        let dash = if line_start && self.buf.starts_with(b"--") {
            Some(0)
        } else {
            memmem::find(&self.buf, b"\n--").map(|i| i + 1)
        };
        match (soi, dash) {
            (Some(soi), dash) if dash.is_none_or(|dash| soi < dash) => {
                self.framing = Framing::Raw;
                self.discard(soi)?;
                Ok(self.start_body(None, None))
            }
            (_, Some(dash)) => {
                self.discard(dash)?;
                let window = &self.buf[..self.buf.len().min(MAX_DELIMITER_LINE)];
                let Some(eol) = memchr(b'\n', window) else {
                    if window.len() == MAX_DELIMITER_LINE {
                        return self.not_a_delimiter();
                    }
                    self.framing = Framing::Unknown { line_start: true };
                    return Ok(Step::NeedMore);
                };
                let token = window[..eol].trim_ascii();
                if token.len() <= 2 || !token.iter().all(|b| (0x20..=0x7E).contains(b)) {
                    return self.not_a_delimiter();
                }
                self.framing =
                    Framing::Multipart { finder: Box::new(memmem::Finder::new(token).into_owned()), seen: true };
                self.discard(eol + 1)?;
                self.state = State::Headers { scan: 0, length: None, timestamp: None };
                Ok(Step::Again)
            }
            _ => {
                // Keep what could be the start of `\n--` or of an SOI.
                let keep = 2;
                if self.buf.len() > keep {
                    let cut = self.buf.len() - keep;
                    let line_start = self.buf[cut - 1] == b'\n';
                    self.discard(cut)?;
                    self.framing = Framing::Unknown { line_start };
                }
                Ok(Step::NeedMore)
            }
        }
    }

    fn not_a_delimiter(&mut self) -> Result<Step, MjpegError> {
        self.discard(2)?;
        self.framing = Framing::Unknown { line_start: false };
        Ok(Step::Again)
    }

    fn headers(
        &mut self,
        mut scan: usize,
        mut length: Option<usize>,
        mut timestamp: Option<String>,
    ) -> Result<Step, MjpegError> {
        loop {
            let line_start = &self.buf[scan..];
            if line_start.len() < 2 {
                self.state = State::Headers { scan, length, timestamp };
                return Ok(Step::NeedMore);
            }
            // Some servers omit the blank line, or all headers: the JPEG itself ends them.
            if line_start.starts_with(&SOI[..2]) {
                self.discard(scan)?;
                return Ok(self.start_body(length, timestamp));
            }
            let Some(eol) = memchr(b'\n', line_start) else {
                if self.buf.len() > MAX_HEADER_BYTES {
                    return Ok(Step::Again); // not headers: seek the next delimiter
                }
                self.state = State::Headers { scan, length, timestamp };
                return Ok(Step::NeedMore);
            };
            let line = line_start[..eol].strip_suffix(b"\r").unwrap_or(&line_start[..eol]);
            let next = scan + eol + 1;
            if line.is_empty() {
                self.discard(next)?;
                return Ok(self.start_body(length, timestamp));
            }
            if let Some(colon) = memchr(b':', line) {
                let name = line[..colon].trim_ascii();
                let value = std::str::from_utf8(line[colon + 1..].trim_ascii()).ok();
                if name.eq_ignore_ascii_case(b"content-length") {
                    length = value.and_then(|v| v.parse().ok());
                } else if name.eq_ignore_ascii_case(b"x-timestamp") {
                    timestamp = value.map(str::to_owned);
                }
            }
            scan = next;
            if scan > MAX_HEADER_BYTES {
                return Ok(Step::Again);
            }
        }
    }

    fn body(
        &mut self,
        length: Option<usize>,
        timestamp: Option<String>,
        mut scanner: JpegScanner,
    ) -> Result<Step, MjpegError> {
        let max = self.max_frame_bytes;
        if let Some(n) = length {
            if n > max {
                return Err(MjpegError::FrameTooLarge { size: n, max });
            }
        }
        let limit = length.map_or(self.buf.len(), |n| n.min(self.buf.len()));
        match scanner.feed(&self.buf[..limit]) {
            Ok(Some(end)) if end > max => Err(MjpegError::FrameTooLarge { size: end, max }),
            Ok(Some(end)) => {
                // Anything between the EOI and the declared length is padding, left to the delimiter seek.
                let data = self.buf.split_to(end).freeze();
                self.skipped = 0;
                Ok(Step::Frame(Part { data, timestamp, info: scanner.info() }))
            }
            Err(JpegError::NotJpeg) => Ok(Step::Again), // a text or other non-JPEG part: skip it
            Err(_) => self.drop_part(scanner.position()),
            Ok(None) => match length {
                Some(n) if self.buf.len() >= n => match self.delimiter_at(n) {
                    // Too short to hold even an SOI: an empty or foreign part, not a broken frame.
                    Some(true) if scanner.position() == 0 => {
                        self.discard(n)?;
                        Ok(Step::Again)
                    }
                    Some(true) => {
                        // Content-Length and the next delimiter agree: the JPEG really is cut short.
                        self.dropped += 1;
                        self.discard(n)?;
                        Ok(Step::Again)
                    }
                    // Content-Length lies: look for the JPEG's own end instead.
                    Some(false) => {
                        self.state = State::Body { length: None, timestamp, scanner };
                        Ok(Step::Again)
                    }
                    None => {
                        self.state = State::Body { length, timestamp, scanner };
                        Ok(Step::NeedMore)
                    }
                },
                _ if scanner.position() > max => Err(MjpegError::FrameTooLarge { size: scanner.position(), max }),
                _ => {
                    self.state = State::Body { length, timestamp, scanner };
                    Ok(Step::NeedMore)
                }
            },
        }
    }

    /// A broken JPEG: count it and find the next frame.
    fn drop_part(&mut self, failed_at: usize) -> Result<Step, MjpegError> {
        self.dropped += 1;
        if let Framing::Raw = self.framing {
            // The error is where the scan ran into the next JPEG (or garbage); restarting at the broken
            // frame's second byte would return its EXIF thumbnail as a frame.
            self.discard(failed_at.max(1).min(self.buf.len()))?;
        }
        // With a boundary, the next delimiter lies between here and the error.
        Ok(Step::Again)
    }

    /// Whether a delimiter (after an optional line break) starts at `at`; None until enough bytes are in.
    fn delimiter_at(&self, at: usize) -> Option<bool> {
        let Framing::Multipart { finder, .. } = &self.framing else { return Some(false) };
        let needle = finder.needle();
        let mut rest = &self.buf[at..];
        for _ in 0..2 {
            match rest.first() {
                Some(b'\r' | b'\n') => rest = &rest[1..],
                Some(_) => break,
                None => return None,
            }
        }
        let mut undecided = false;
        for prefix in [&b""[..], b"--"] {
            let full = prefix.len() + needle.len();
            let have = rest.len().min(full);
            let candidate = prefix.iter().chain(needle).take(have);
            if rest[..have].iter().eq(candidate) {
                if have == full {
                    return Some(true);
                }
                undecided = true;
            }
        }
        if undecided {
            None
        } else {
            Some(false)
        }
    }
}

/// The `boundary` parameter of a Content-Type value, unquoted; None if absent or empty.
fn boundary_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        (!value.is_empty()).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::jpeg::tests::{pklot, tiny_jpeg};
    use proptest::prelude::*;
    use std::sync::OnceLock;

    type Frames = Vec<(Vec<u8>, Option<String>)>;

    const ESP32_BOUNDARY: &str = "123456789000000000000987654321";
    const LIMIT: usize = 4 << 20;

    /// A test stream: what the server says in Content-Type, the body, and what must come out of it.
    struct Dialect {
        name: &'static str,
        content_type: Option<&'static str>,
        body: Vec<u8>,
        frames: Frames,
        dropped: u64,
    }

    /// A real 1280x720 camera frame and small hand-made ones, one of which carries `--frame` text in its
    /// scan data and an EOI inside its EXIF thumbnail.
    fn jpegs() -> Vec<Vec<u8>> {
        vec![tiny_jpeg(640, 480, 1), pklot("2013-02-24_06_15_00.jpg"), tiny_jpeg(320, 240, 2), tiny_jpeg(16, 16, 3)]
    }

    fn cat(pieces: &[&[u8]]) -> Vec<u8> {
        pieces.concat()
    }

    fn dialects() -> &'static [Dialect] {
        static DIALECTS: OnceLock<Vec<Dialect>> = OnceLock::new();
        DIALECTS.get_or_init(build_dialects)
    }

    fn build_dialects() -> Vec<Dialect> {
        let jpegs = jpegs();
        let plain: Frames = jpegs.iter().map(|j| (j.clone(), None)).collect();
        let mut out = Vec::new();

        // ESP32 CameraWebServer: delimiter before each part, Content-Length, X-Timestamp.
        let mut body = Vec::new();
        let mut frames = Frames::new();
        for (i, j) in jpegs.iter().enumerate() {
            let ts = format!("1700000000.12345{i}");
            body.extend(format!("\r\n--{ESP32_BOUNDARY}\r\n").bytes());
            body.extend(
                format!("Content-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: {ts}\r\n\r\n", j.len()).bytes(),
            );
            body.extend_from_slice(j);
            frames.push((j.clone(), Some(ts)));
        }
        out.push(Dialect {
            name: "esp32",
            content_type: Some("multipart/x-mixed-replace;boundary=123456789000000000000987654321"),
            body,
            frames,
            dropped: 0,
        });

        // `boundary=--myboundary`, written with two more dashes in the body, or as is.
        for (name, delimiter, content_type) in [
            ("dashed-long", "----myboundary", r#"multipart/x-mixed-replace; Boundary="--myboundary"; charset=binary"#),
            ("dashed-short", "--myboundary", "multipart/x-mixed-replace;boundary=--myboundary"),
        ] {
            let mut body = Vec::new();
            for j in &jpegs {
                body.extend(
                    format!("{delimiter}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", j.len()).bytes(),
                );
                body.extend_from_slice(j);
                body.extend_from_slice(b"\r\n");
            }
            body.extend(format!("{delimiter}--\r\n").bytes());
            out.push(Dialect { name, content_type: Some(content_type), body, frames: plain.clone(), dropped: 0 });
        }

        // Quoted boundary, LF-only lines, headers in any order and case.
        let mut body = Vec::new();
        let mut frames = Frames::new();
        for (i, j) in jpegs.iter().enumerate() {
            body.extend(format!("--frame\nx-timestamp: {i}.5\nX-Extra: a: b\ncontent-LENGTH: {}\n", j.len()).bytes());
            body.extend_from_slice(b"content-type: image/jpeg\n\n");
            body.extend_from_slice(j);
            body.push(b'\n');
            frames.push((j.clone(), Some(format!("{i}.5"))));
        }
        out.push(Dialect {
            name: "quoted-lf",
            content_type: Some(r#"Multipart/X-Mixed-Replace; foo=bar; BOUNDARY="frame""#),
            body,
            frames,
            dropped: 0,
        });

        // No Content-Length: the JPEG's own end decides, not the `--frame` text inside a frame.
        let mut body = Vec::new();
        for j in &jpegs {
            body.extend_from_slice(b"--frame\r\nContent-Type: image/jpeg\r\n\r\n");
            body.extend_from_slice(j);
            body.extend_from_slice(b"\r\n");
        }
        out.push(Dialect {
            name: "no-length",
            content_type: Some("multipart/x-mixed-replace;boundary=frame"),
            body,
            frames: plain.clone(),
            dropped: 0,
        });

        // Content-Length too short, too long, and unreadable; plus a part with no headers at all.
        let lengths = [
            (jpegs[0].len() - 10).to_string(),
            (jpegs[1].len() + 37).to_string(),
            "many".to_owned(),
            jpegs[3].len().to_string(),
        ];
        let mut body = Vec::new();
        for (j, length) in jpegs.iter().zip(&lengths) {
            body.extend(format!("--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {length}\r\n\r\n").bytes());
            body.extend_from_slice(j);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--frame\r\n");
        body.extend_from_slice(&jpegs[2]);
        body.extend_from_slice(b"\r\n");
        let mut frames = plain.clone();
        frames.push((jpegs[2].clone(), None));
        out.push(Dialect {
            name: "lying-length",
            content_type: Some("multipart/x-mixed-replace; boundary=frame"),
            body,
            frames,
            dropped: 0,
        });

        // No boundary in the response header (or no Content-Type): learnt from the body.
        for (name, content_type) in [
            ("learnt", None),
            ("learnt-no-param", Some("multipart/x-mixed-replace")),
            ("wrong-param", Some("multipart/x-mixed-replace;boundary=nope")),
        ] {
            // Leading blank line or not: the first delimiter may or may not start the body.
            let mut body = if content_type.is_none() { b"\r\n".to_vec() } else { Vec::new() };
            for j in &jpegs {
                body.extend(
                    format!("--a1b2c3\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", j.len()).bytes(),
                );
                body.extend_from_slice(j);
                body.extend_from_slice(b"\r\n");
            }
            out.push(Dialect { name, content_type, body, frames: plain.clone(), dropped: 0 });
        }

        // Concatenated JPEGs, with a little junk in front and between.
        let mut body = b"junk\r\n".to_vec();
        for j in &jpegs {
            body.extend_from_slice(j);
            body.extend_from_slice(b"\r\n");
        }
        out.push(Dialect { name: "raw", content_type: Some("image/jpeg"), body, frames: plain.clone(), dropped: 0 });
        let body = jpegs.concat();
        out.push(Dialect { name: "raw-tight", content_type: None, body, frames: plain.clone(), dropped: 0 });

        // A text part among the frames is skipped; truncated JPEGs are dropped, with and without length.
        let boundary = format!("\r\n--{ESP32_BOUNDARY}\r\n");
        let part = |j: &[u8]| {
            cat(&[
                boundary.as_bytes(),
                format!("Content-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", j.len()).as_bytes(),
                j,
            ])
        };
        let cut = &jpegs[1][..jpegs[1].len() / 2];
        let body = cat(&[
            &part(&jpegs[0]),
            boundary.as_bytes(),
            b"Content-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world!",
            &part(cut),
            &part(&jpegs[2]),
            boundary.as_bytes(),
            b"Content-Type: image/jpeg\r\n\r\n",
            &jpegs[1][..5000],
            &part(&jpegs[3]),
        ]);
        let frames = vec![(jpegs[0].clone(), None), (jpegs[2].clone(), None), (jpegs[3].clone(), None)];
        out.push(Dialect {
            name: "skipped-and-dropped",
            content_type: Some("multipart/x-mixed-replace;boundary=123456789000000000000987654321"),
            body,
            frames,
            dropped: 2,
        });

        // Bare JPEGs where one is cut short: the next SOI ends it, and its thumbnail is not a frame.
        let body = cat(&[&jpegs[0], &jpegs[2][..200], &jpegs[3]]);
        let frames = vec![(jpegs[0].clone(), None), (jpegs[3].clone(), None)];
        out.push(Dialect { name: "raw-truncated", content_type: None, body, frames, dropped: 1 });
        out
    }

    /// Feeds `body` in reads of the given sizes (cycled); an empty list means one read.
    fn run(content_type: Option<&str>, body: &[u8], reads: &[usize]) -> (Frames, u64) {
        let mut parser = MjpegParser::new(content_type, LIMIT);
        let mut frames = Frames::new();
        let mut rest = body;
        let mut sizes = reads.iter().cycle();
        while !rest.is_empty() {
            let n = sizes.next().copied().unwrap_or(rest.len()).clamp(1, rest.len());
            parser.push(&rest[..n]);
            rest = &rest[n..];
            while let Some(part) = parser.next_part().expect("a valid stream") {
                let inspected = super::super::jpeg::inspect(&part.data).ok();
                assert!(inspected.is_some(), "frames are whole JPEGs");
                assert_eq!(part.info, inspected, "the dimensions the parser hands over are the JPEG's");
                frames.push((part.data.to_vec(), part.timestamp));
            }
        }
        (frames, parser.dropped())
    }

    fn summary(frames: &Frames) -> Vec<(usize, Option<&str>)> {
        frames.iter().map(|(data, ts)| (data.len(), ts.as_deref())).collect()
    }

    #[test]
    fn every_dialect_whole() {
        for d in dialects() {
            let (frames, dropped) = run(d.content_type, &d.body, &[]);
            assert_eq!(summary(&frames), summary(&d.frames), "{}", d.name);
            assert!(frames == d.frames, "{}: frame bytes differ", d.name);
            assert_eq!(dropped, d.dropped, "{}", d.name);
        }
    }

    #[test]
    fn every_dialect_byte_by_byte() {
        for d in dialects() {
            let (frames, dropped) = run(d.content_type, &d.body, &[1]);
            assert!(frames == d.frames, "{}: {:?}", d.name, summary(&frames));
            assert_eq!(dropped, d.dropped, "{}", d.name);
        }
    }

    #[test]
    fn frames_are_valid_jpegs_sharing_the_buffer() {
        let d = &dialects()[0];
        let mut parser = MjpegParser::new(d.content_type, LIMIT);
        parser.push(&d.body);
        let first = parser.next_part().expect("valid").expect("a frame");
        let second = parser.next_part().expect("valid").expect("a frame");
        assert_eq!(super::super::jpeg::inspect(&second.data).map(|i| (i.width, i.height)), Ok((1280, 720)));
        // Zero copy: consecutive frames are adjacent slices of one allocation.
        let gap = second.data.as_ptr() as usize - first.data.as_ptr() as usize;
        assert!(gap > first.data.len() && gap < first.data.len() + 200, "gap {gap}");
    }

    /// An ESP32 sends the delimiter after a frame only when the next frame is captured: a frame must come out
    /// as soon as its last byte is in, not when the next delimiter arrives.
    #[test]
    fn a_frame_is_returned_at_its_last_byte() {
        let d = &dialects()[0];
        let jpeg = &d.frames[0].0;
        let end = memmem::find(&d.body, jpeg).expect("first frame") + jpeg.len();
        let mut parser = MjpegParser::new(d.content_type, LIMIT);
        parser.push(&d.body[..end - 1]);
        assert_eq!(parser.next_part(), Ok(None));
        parser.push(&d.body[end - 1..end]);
        assert_eq!(parser.next_part().map(|p| p.map(|p| p.data.len())), Ok(Some(jpeg.len())));

        let d = dialects().iter().find(|d| d.name == "no-length").expect("dialect");
        let jpeg = &d.frames[0].0;
        let end = memmem::find(&d.body, jpeg).expect("first frame") + jpeg.len();
        let mut parser = MjpegParser::new(d.content_type, LIMIT);
        parser.push(&d.body[..end]);
        assert_eq!(parser.next_part().map(|p| p.map(|p| p.data.len())), Ok(Some(jpeg.len())));
    }

    #[test]
    fn garbage_is_an_error_once_past_the_limit() {
        let text = "<html><body>404 Not Found -- nothing here</body></html>\r\n".repeat(2000);
        for content_type in [None, Some("multipart/x-mixed-replace;boundary=frame"), Some("text/html")] {
            let mut parser = MjpegParser::new(content_type, 64 * 1024);
            let mut result = Ok(None);
            for chunk in text.as_bytes().chunks(1000) {
                parser.push(chunk);
                result = parser.next_part();
                if result.is_err() {
                    break;
                }
            }
            assert!(matches!(result, Err(MjpegError::NoFrame { .. })), "{content_type:?}: {result:?}");
            assert!(parser.next_part().is_err(), "errors stick");
        }
    }

    #[test]
    fn oversized_frames_are_errors() {
        let big = pklot("2013-02-24_06_15_00.jpg");
        let esp32 = &dialects()[0];
        let mut parser = MjpegParser::new(esp32.content_type, 50_000);
        parser.push(&esp32.body);
        assert_eq!(parser.next_part().map(|p| p.map(|p| p.data.len())), Ok(Some(tiny_jpeg(640, 480, 1).len())));
        assert_eq!(parser.next_part(), Err(MjpegError::FrameTooLarge { size: big.len(), max: 50_000 }));

        let mut parser = MjpegParser::new(None, 50_000);
        parser.push(&big);
        assert!(matches!(parser.next_part(), Err(MjpegError::FrameTooLarge { .. })));
    }

    #[test]
    fn boundary_parameter() {
        assert_eq!(boundary_param("multipart/x-mixed-replace;boundary=abc"), Some("abc"));
        assert_eq!(boundary_param(r#"multipart/x-mixed-replace; charset=x; BOUNDARY="a b""#), Some("a b"));
        assert_eq!(boundary_param("multipart/x-mixed-replace; boundary="), None);
        assert_eq!(boundary_param("multipart/x-mixed-replace"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any split of a stream into reads yields exactly the frames of the whole stream.
        #[test]
        fn any_split_gives_the_same_frames(
            reads in proptest::collection::vec(prop_oneof![1usize..=3, 1usize..=600, 1usize..=70_000], 1..40),
        ) {
            for d in dialects() {
                let (frames, dropped) = run(d.content_type, &d.body, &reads);
                prop_assert!(frames == d.frames, "{}: {:?}", d.name, summary(&frames));
                prop_assert_eq!(dropped, d.dropped, "{}", d.name);
            }
        }
    }
}
