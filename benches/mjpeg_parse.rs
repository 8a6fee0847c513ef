//! MJPEG parsing throughput: about 100 MB of multipart stream made of real camera frames (PKLot), fed to
//! `MjpegParser` in 16 KiB reads, as a socket would. The reference, in the same run and over the same
//! reads, is a bare `memmem` scan for the boundary: the least any boundary-based parser has to do.
//!
//! Two dialects: ESP32 CameraWebServer (Content-Length and X-Timestamp on every part) and one without
//! Content-Length, where the parser must find each JPEG's end in its scan data.
//!
//! Run: `cargo bench --bench mjpeg_parse`. The frames come from `../shared/fixtures/pklot/day-2013-02-24`
//! beside the crate, or from the directory in `PKLOT_DIR`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use memchr::memmem;
use smartpark::camera::mjpeg::MjpegParser;

const TARGET_BYTES: usize = 100_000_000;
const READ_BYTES: usize = 16 * 1024;
const RUNS: usize = 5;
const MAX_FRAME_BYTES: usize = 8 << 20;
const ESP32_BOUNDARY: &str = "123456789000000000000987654321";

struct Stream {
    name: &'static str,
    content_type: String,
    /// What the reference scan looks for: the delimiter as it appears in the body.
    delimiter: Vec<u8>,
    body: Vec<u8>,
    frames: usize,
}

fn load_frames() -> Vec<Vec<u8>> {
    let dir = std::env::var_os("PKLOT_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/pklot/day-2013-02-24"))
    });
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => {
            eprintln!("mjpeg_parse: cannot read the PKLot frames in {} ({e}); set PKLOT_DIR", dir.display());
            std::process::exit(2);
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("jpg")))
        .collect();
    paths.sort();
    if paths.is_empty() {
        eprintln!("mjpeg_parse: no .jpg files in {}; set PKLOT_DIR", dir.display());
        std::process::exit(2);
    }
    paths.iter().map(|path| std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).collect()
}

/// Cycles through `jpegs`, wrapping each with `part`, until the body reaches the target size.
fn build(jpegs: &[Vec<u8>], mut part: impl FnMut(&mut Vec<u8>, usize, &[u8])) -> (Vec<u8>, usize) {
    let mut body = Vec::with_capacity(TARGET_BYTES + (1 << 20));
    let mut frames = 0;
    for jpeg in jpegs.iter().cycle() {
        if body.len() >= TARGET_BYTES {
            break;
        }
        part(&mut body, frames, jpeg);
        frames += 1;
    }
    (body, frames)
}

fn esp32(jpegs: &[Vec<u8>]) -> Stream {
    let (body, frames) = build(jpegs, |body, i, jpeg| {
        body.extend_from_slice(format!("\r\n--{ESP32_BOUNDARY}\r\n").as_bytes());
        let timestamp = format!("{}.{:06}", 1_700_000_000 + i / 10, (i % 10) * 100_000);
        let headers =
            format!("Content-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: {timestamp}\r\n\r\n", jpeg.len());
        body.extend_from_slice(headers.as_bytes());
        body.extend_from_slice(jpeg);
    });
    Stream {
        name: "esp32",
        content_type: format!("multipart/x-mixed-replace;boundary={ESP32_BOUNDARY}"),
        delimiter: format!("--{ESP32_BOUNDARY}").into_bytes(),
        body,
        frames,
    }
}

fn no_content_length(jpegs: &[Vec<u8>]) -> Stream {
    let (body, frames) = build(jpegs, |body, _, jpeg| {
        body.extend_from_slice(b"--frame\r\nContent-Type: image/jpeg\r\n\r\n");
        body.extend_from_slice(jpeg);
        body.extend_from_slice(b"\r\n");
    });
    Stream {
        name: "no_content_length",
        content_type: "multipart/x-mixed-replace; boundary=frame".to_owned(),
        delimiter: b"--frame".to_vec(),
        body,
        frames,
    }
}

/// Frames parsed.
fn parse(stream: &Stream) -> usize {
    let mut parser = MjpegParser::new(Some(&stream.content_type), MAX_FRAME_BYTES);
    let mut frames = 0;
    for read in stream.body.chunks(READ_BYTES) {
        parser.push(read);
        while let Some(part) = parser.next_part().expect("the benchmark stream is valid") {
            black_box(&part);
            frames += 1;
        }
    }
    assert_eq!(parser.dropped(), 0, "{}: frames dropped", stream.name);
    frames
}

/// Delimiters found, including those split across two reads.
fn reference(stream: &Stream) -> usize {
    let finder = memmem::Finder::new(&stream.delimiter);
    let overlap = stream.delimiter.len() - 1;
    let mut seam = Vec::with_capacity(2 * overlap);
    let mut previous: &[u8] = &[];
    let mut found = 0;
    for read in stream.body.chunks(READ_BYTES) {
        found += finder.find_iter(black_box(read)).count();
        seam.clear();
        seam.extend_from_slice(&previous[previous.len().saturating_sub(overlap)..]);
        seam.extend_from_slice(&read[..read.len().min(overlap)]);
        found += finder.find_iter(&seam).count();
        previous = read;
    }
    found
}

/// Best time of several runs, and what the last run returned.
fn best_of(mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut result = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        result = black_box(f());
        best = best.min(start.elapsed());
    }
    (best, result)
}

fn main() {
    let jpegs = load_frames();
    println!("mjpeg_parse: {} JPEG frames loaded, {} B reads, best of {RUNS} runs", jpegs.len(), READ_BYTES);
    let mut json = Vec::new();
    for stream in [esp32(&jpegs), no_content_length(&jpegs)] {
        let mb = stream.body.len() as f64 / 1e6;
        let (parser_time, parsed) = best_of(|| parse(&stream));
        let (reference_time, delimiters) = best_of(|| reference(&stream));
        assert_eq!(parsed, stream.frames, "{}: frames parsed", stream.name);
        assert_eq!(delimiters, stream.frames, "{}: delimiters found by the reference", stream.name);
        let parser_rate = mb / parser_time.as_secs_f64();
        let reference_rate = mb / reference_time.as_secs_f64();
        let ratio = parser_rate / reference_rate;
        println!(
            "{}: {mb:.1} MB, {parsed} frames: parser {parser_rate:.0} MB/s, reference memmem {reference_rate:.0} MB/s, \
             ratio {ratio:.3}",
            stream.name
        );
        json.push(format!(
            concat!(
                r#""{}":{{"stream_mb":{:.1},"frames":{},"parser_mb_s":{:.0},"#,
                r#""reference_mb_s":{:.0},"ratio":{:.3}}}"#
            ),
            stream.name, mb, parsed, parser_rate, reference_rate, ratio
        ));
    }
    println!(r#"{{"bench":"mjpeg_parse","read_bytes":{READ_BYTES},"runs":{RUNS},{}}}"#, json.join(","));
}
