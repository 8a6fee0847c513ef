//! JPEG inspection without decoding: where a JPEG ends in a growing buffer, and whether an upload is a
//! well-formed JPEG (and of what size).
//!
//! Only the container is checked: SOI, marker segments walked by their lengths, a frame header (SOF) with
//! non-zero dimensions before the first scan, and an EOI closing the entropy-coded data. The Huffman data
//! itself is not decoded, so a JPEG whose scan bytes were flipped still passes; one that was cut short never
//! does.

use memchr::memchr;

/// The size of a JPEG, from its frame header (SOF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegInfo {
    pub width: u16,
    pub height: u16,
}

/// Why bytes are not a usable JPEG.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JpegError {
    /// No SOI marker (`FF D8 FF`) at the start: some other kind of data (HTTP 415).
    #[error("not a JPEG: no SOI marker at the start")]
    NotJpeg,
    /// A JPEG that stops before its EOI (HTTP 400).
    #[error("truncated JPEG: {0}")]
    Truncated(&'static str),
    /// A JPEG whose structure is broken (HTTP 400).
    #[error("corrupt JPEG at byte {offset}: {reason}")]
    Corrupt { offset: usize, reason: &'static str },
}

impl JpegError {
    /// True when the data is not a JPEG at all, as opposed to a damaged one.
    pub fn is_not_jpeg(&self) -> bool {
        matches!(self, JpegError::NotJpeg)
    }

    /// True when the JPEG was cut short.
    pub fn is_truncated(&self) -> bool {
        matches!(self, JpegError::Truncated(_))
    }
}

const SOI: [u8; 3] = [0xFF, 0xD8, 0xFF];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the SOI has been seen whole.
    Start,
    /// `pos` is at a marker (possibly preceded by fill bytes).
    Markers,
    /// `pos` is inside entropy-coded data, after an SOS segment.
    Entropy,
    /// The EOI ends at `pos`.
    Done,
}

/// Finds the end of a JPEG in a buffer that grows between calls, resuming where the last call stopped so
/// that feeding a frame in many small reads costs about as much as feeding it whole.
#[derive(Debug, Clone)]
pub struct JpegScanner {
    pos: usize,
    phase: Phase,
    info: Option<JpegInfo>,
    scans: u32,
}

impl Default for JpegScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl JpegScanner {
    pub fn new() -> Self {
        JpegScanner { pos: 0, phase: Phase::Start, info: None, scans: 0 }
    }

    /// `buf` holds the candidate JPEG from its first byte; each call passes the bytes of the previous one
    /// plus any that arrived since. Returns the JPEG's length once its EOI is in `buf`, `None` while more
    /// bytes are needed, or why it cannot be a (whole) JPEG.
    pub fn feed(&mut self, buf: &[u8]) -> Result<Option<usize>, JpegError> {
        loop {
            match self.phase {
                Phase::Done => return Ok(Some(self.pos)),
                Phase::Start => {
                    let n = buf.len().min(SOI.len());
                    if buf[..n] != SOI[..n] {
                        return Err(JpegError::NotJpeg);
                    }
                    if n < SOI.len() {
                        return Ok(None);
                    }
                    // The third byte is the first byte of the next marker.
                    self.pos = 2;
                    self.phase = Phase::Markers;
                }
                Phase::Markers => {
                    if !self.marker(buf)? {
                        return Ok(None);
                    }
                }
                Phase::Entropy => {
                    if !self.entropy(buf) {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// The frame size, once the SOF segment has been read.
    pub fn info(&self) -> Option<JpegInfo> {
        self.info
    }

    /// How far the scan got; a failed scan stopped here, a finished one is the JPEG's length.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn corrupt(&self, reason: &'static str) -> JpegError {
        JpegError::Corrupt { offset: self.pos, reason }
    }

    /// Handles one marker at `pos`. Returns false when more bytes are needed.
    fn marker(&mut self, buf: &[u8]) -> Result<bool, JpegError> {
        let Some(&first) = buf.get(self.pos) else { return Ok(false) };
        if first != 0xFF {
            return Err(self.corrupt("expected a marker"));
        }
        // Any number of 0xFF fill bytes may precede a marker.
        let Some(fill) = buf[self.pos + 1..].iter().position(|&b| b != 0xFF) else { return Ok(false) };
        let code_at = self.pos + 1 + fill;
        let code = buf[code_at];
        match code {
            0xD8 => return Err(self.corrupt("SOI inside the image")),
            0xD9 => {
                if self.scans == 0 {
                    return Err(self.corrupt("EOI before any scan"));
                }
                self.pos = code_at + 1;
                self.phase = Phase::Done;
                return Ok(true);
            }
            // Standalone markers: no length field.
            0x01 | 0xD0..=0xD7 => {
                self.pos = code_at + 1;
                return Ok(true);
            }
            // Never a marker; random data lands here, so rejecting it catches garbage early.
            0x00..=0xBF => return Err(self.corrupt("invalid marker")),
            _ => {}
        }
        let Some(len) = buf.get(code_at + 1..code_at + 3) else { return Ok(false) };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < 2 {
            return Err(self.corrupt("segment length below 2"));
        }
        let end = code_at + 1 + len;
        match code {
            // SOF0..SOF15, less DHT (C4), JPG (C8) and DAC (CC), which share the range.
            0xC0..=0xCF if !matches!(code, 0xC4 | 0xC8 | 0xCC) => {
                let Some(seg) = buf.get(code_at + 3..end) else { return Ok(false) };
                if seg.len() < 6 {
                    return Err(self.corrupt("SOF segment too short"));
                }
                let height = u16::from_be_bytes([seg[1], seg[2]]);
                let width = u16::from_be_bytes([seg[3], seg[4]]);
                if width == 0 || height == 0 {
                    return Err(self.corrupt("zero width or height"));
                }
                // A hierarchical JPEG has several frames; the first gives the size.
                self.info.get_or_insert(JpegInfo { width, height });
                self.pos = end;
            }
            0xDA => {
                if self.info.is_none() {
                    return Err(self.corrupt("SOS before SOF"));
                }
                self.scans += 1;
                self.pos = end;
                self.phase = Phase::Entropy;
            }
            // Everything else (APPn with EXIF thumbnails, DQT, DHT, COM, ...) is skipped by its length, so
            // an FF D9 inside it is never mistaken for the end.
            _ => self.pos = end,
        }
        Ok(true)
    }

    /// Scans entropy-coded data for the marker that ends it. Returns false when more bytes are needed.
    fn entropy(&mut self, buf: &[u8]) -> bool {
        loop {
            let Some(rest) = buf.get(self.pos..) else { return false };
            let Some(i) = memchr(0xFF, rest) else {
                self.pos = buf.len();
                return false;
            };
            let at = self.pos + i;
            let Some(&next) = buf.get(at + 1) else {
                self.pos = at;
                return false;
            };
            match next {
                // Byte stuffing and restart markers belong to the scan.
                0x00 | 0xD0..=0xD7 => self.pos = at + 2,
                // A fill byte: the next 0xFF may start a marker.
                0xFF => self.pos = at + 1,
                0xD9 => {
                    self.pos = at + 2;
                    self.phase = Phase::Done;
                    return true;
                }
                // DHT, SOS of a further progressive scan, DNL, ...: back to walking segments.
                _ => {
                    self.pos = at;
                    self.phase = Phase::Markers;
                    return true;
                }
            }
        }
    }

    fn stall_reason(&self) -> &'static str {
        match self.phase {
            Phase::Start => "shorter than an SOI marker",
            Phase::Markers if self.scans == 0 => "marker segments run past the end",
            Phase::Markers => "no EOI after the last scan",
            Phase::Entropy | Phase::Done => "no EOI at the end of the entropy-coded data",
        }
    }
}

/// Length of the JPEG at the start of `buf` (which must begin with its SOI), `None` if its EOI has not
/// arrived yet. For a buffer that keeps growing, keep a [`JpegScanner`] instead: this starts over each call.
pub fn find_end(buf: &[u8]) -> Result<Option<usize>, JpegError> {
    JpegScanner::new().feed(buf)
}

/// Checks that `data` is one whole JPEG and returns its size. Bytes after the EOI are tolerated, as many
/// decoders do.
pub fn inspect(data: &[u8]) -> Result<JpegInfo, JpegError> {
    if !data.starts_with(&SOI) {
        return Err(JpegError::NotJpeg);
    }
    let mut scanner = JpegScanner::new();
    match scanner.feed(data)? {
        Some(_) => scanner.info().ok_or(JpegError::Corrupt { offset: 0, reason: "no SOF" }),
        None => Err(JpegError::Truncated(scanner.stall_reason())),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) const PKLOT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/pklot/day-2013-02-24");

    /// A real camera frame (1280x720) from the PKLot fixtures.
    pub(crate) fn pklot(name: &str) -> Vec<u8> {
        let path = format!("{PKLOT_DIR}/{name}");
        std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
    }

    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, marker];
        out.extend_from_slice(&u16::try_from(payload.len() + 2).expect("segment fits").to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// A small baseline JPEG shaped like a camera's: an EXIF APP1 carrying a thumbnail (itself SOI..EOI),
    /// DQT, SOF0 with the given size, DHT, SOS, entropy data with stuffing, a restart marker and fill bytes,
    /// then EOI. `seed` varies the scan bytes so that frames differ.
    pub(crate) fn tiny_jpeg(width: u16, height: u16, seed: u8) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8];
        let mut exif = b"Exif\0\0".to_vec();
        exif.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x03, 0x01, 0xFF, 0xD9]);
        exif.extend_from_slice(b"--fake-boundary\r\n\xFF\xD9");
        out.extend(segment(0xE1, &exif));
        out.extend(segment(0xDB, &[0u8; 65]));
        let [wh, wl] = width.to_be_bytes();
        let [hh, hl] = height.to_be_bytes();
        out.extend(segment(0xC0, &[8, hh, hl, wh, wl, 1, 1, 0x11, 0]));
        out.extend(segment(0xC4, &[0u8; 29]));
        out.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        for i in 0..40u8 {
            out.push(i.wrapping_mul(7).wrapping_add(seed) & 0x7F);
        }
        out.extend_from_slice(&[0xFF, 0x00, 0x12, 0xFF, 0xD3, 0x34, 0xFF, 0xFF, 0x00, 0x56]);
        // Text that looks like a multipart delimiter inside the scan: the JPEG end must win over it.
        out.extend_from_slice(b"\r\n--frame\r\n");
        out.extend_from_slice(&[seed, 0x42, 0xFF, 0xD9]);
        out
    }

    /// A progressive-style JPEG: two scans with a DHT between them.
    fn progressive_jpeg() -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8];
        out.extend(segment(0xC2, &[8, 0, 16, 0, 16, 1, 1, 0x11, 0]));
        out.extend(segment(0xDA, &[1, 1, 0, 0, 0, 0]));
        out.extend_from_slice(&[1, 2, 0xFF, 0x00, 3]);
        out.extend(segment(0xC4, &[0u8; 20]));
        out.extend(segment(0xDA, &[1, 1, 0, 1, 63, 0]));
        out.extend_from_slice(&[4, 5, 0xFF, 0xD0, 6, 0xFF, 0xD9]);
        out
    }

    #[test]
    fn pklot_frames_are_1280x720() {
        for name in ["2013-02-24_06_15_00.jpg", "2013-02-24_07_00_01.jpg"] {
            let data = pklot(name);
            assert_eq!(inspect(&data), Ok(JpegInfo { width: 1280, height: 720 }), "{name}");
            assert_eq!(find_end(&data), Ok(Some(data.len())));
        }
    }

    #[test]
    fn eoi_inside_thumbnail_and_boundary_text_are_skipped() {
        let data = tiny_jpeg(640, 480, 3);
        assert_eq!(find_end(&data), Ok(Some(data.len())));
        assert_eq!(inspect(&data), Ok(JpegInfo { width: 640, height: 480 }));
        let mut two = data.clone();
        two.extend_from_slice(&data);
        assert_eq!(find_end(&two), Ok(Some(data.len())));
    }

    #[test]
    fn progressive_scans_are_followed() {
        let data = progressive_jpeg();
        assert_eq!(find_end(&data), Ok(Some(data.len())));
        assert_eq!(inspect(&data), Ok(JpegInfo { width: 16, height: 16 }));
    }

    #[test]
    fn structural_errors_are_corrupt_not_foreign() {
        let good = tiny_jpeg(8, 8, 0);
        let sof_at = good.windows(2).position(|w| w == [0xFF, 0xC0]).expect("SOF");

        let mut zero = good.clone();
        zero[sof_at + 7] = 0;
        zero[sof_at + 8] = 0;
        assert!(matches!(inspect(&zero), Err(JpegError::Corrupt { reason: "zero width or height", .. })));

        let mut no_sof = good.clone();
        no_sof[sof_at + 1] = 0xE5; // the SOF becomes an APP5 segment
        assert!(matches!(inspect(&no_sof), Err(JpegError::Corrupt { reason: "SOS before SOF", .. })));

        let mut past_end = good[..sof_at].to_vec();
        past_end.extend_from_slice(&[0xFF, 0xE2, 0x40, 0x00, 1, 2, 3]);
        assert_eq!(inspect(&past_end), Err(JpegError::Truncated("marker segments run past the end")));

        let no_eoi = &good[..good.len() - 2];
        let err = inspect(no_eoi).expect_err("no EOI");
        assert!(err.is_truncated() && !err.is_not_jpeg());

        assert!(inspect(b"GIF89a....").expect_err("gif").is_not_jpeg());
        assert!(inspect(&[]).expect_err("empty").is_not_jpeg());
        assert!(inspect(&[0xFF, 0xD8]).expect_err("bare SOI").is_not_jpeg());
    }

    #[test]
    fn scanner_resumes_byte_by_byte() {
        let data = pklot("2013-02-24_06_15_00.jpg");
        let mut scanner = JpegScanner::new();
        let mut found = None;
        for end in 0..=data.len() {
            if let Some(n) = scanner.feed(&data[..end]).expect("valid prefix") {
                found = Some((end, n));
                break;
            }
        }
        assert_eq!(found, Some((data.len(), data.len())));
        assert_eq!(scanner.info(), Some(JpegInfo { width: 1280, height: 720 }));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn truncated_copies_are_truncated(cut in any::<prop::sample::Index>()) {
            let data = pklot("2013-02-24_06_15_00.jpg");
            let cut = 3 + cut.index(data.len() - 3);
            let err = inspect(&data[..cut]).expect_err("cut short");
            prop_assert!(err.is_truncated(), "cut at {}: {:?}", cut, err);
        }

        #[test]
        fn random_bytes_are_not_jpeg(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            prop_assume!(!data.starts_with(&SOI));
            prop_assert_eq!(inspect(&data), Err(JpegError::NotJpeg));
        }

        #[test]
        fn random_scan_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut data = tiny_jpeg(8, 8, 1);
            let sos = data.windows(2).position(|w| w == [0xFF, 0xDA]).expect("SOS");
            data.truncate(sos);
            data.extend_from_slice(&tail);
            let _ = inspect(&data);
        }
    }
}
