//! The detector actor: frames waiting from several cameras go through the model together, and
//! a frame gets the same boxes in a batch as alone.

use std::path::PathBuf;
use std::sync::Arc;

use smartpark::config::DetectConfig;
use smartpark::detect::actor::Detector;
use smartpark::detect::preprocess::decode;
use smartpark::metrics::Metrics;

fn frame(rel: &str) -> Arc<image::RgbImage> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/pklot").join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Arc::new(decode(&bytes).expect("a fixture frame"))
}

fn metric(metrics: &Metrics, name: &str) -> f64 {
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(|v| v.trim().parse().expect("a number")))
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

#[actix_rt::test]
async fn waiting_frames_share_a_forward_pass_and_keep_their_boxes() {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/yolov5n.torchscript");
    assert!(model.is_file(), "run `make models`");
    let space_model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/space-classifier.torchscript");
    assert!(space_model.is_file(), "run `make models`");
    let config =
        DetectConfig { model, space_model, device: "cpu".into(), workers: 1, batch_size: 4, ..Default::default() };
    let xml = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/pklot/annotated/sequence4/bounding_boxes/2013-04-15_07_35_01.xml");
    let spaces = smartpark::parking::pklot::parse(&std::fs::read_to_string(xml).unwrap()).unwrap();
    let spaces = Arc::new(spaces.into_iter().map(|s| s.polygon).collect::<Vec<_>>());
    let metrics = Metrics::new();
    let detector = Detector::start(&config, metrics.clone()).expect("the detector starts");

    let frames = [
        frame("annotated/sequence4/frames/2013-04-15_07_35_01.png"),
        frame("annotated/sequence1/frames/2013-02-22_07_05_01.png"),
        frame("annotated/sequence0/frames/2013-02-24_10_05_04.jpg"),
        frame("annotated/sequence4/frames/2013-04-15_07_10_01.png"),
    ];
    let mut alone = Vec::new();
    for f in &frames {
        alone.push(detector.detect(f.clone(), spaces.clone()).await.expect("detection"));
    }
    assert_eq!(metric(&metrics, "smartpark_detect_batch_frames_count"), 4.0);
    assert!(alone[0].boxes.len() >= 30, "the full lot: {} vehicles", alone[0].boxes.len());

    // Four cameras at once: the worker takes what is waiting when it comes free.
    let together =
        futures_util::future::join_all(frames.iter().map(|f| detector.detect(f.clone(), spaces.clone()))).await;
    let passes = metric(&metrics, "smartpark_detect_batch_frames_count") - 4.0;
    assert!(passes <= 2.0, "4 frames took {passes} forward passes");
    assert_eq!(metric(&metrics, "smartpark_detect_batch_frames_sum"), 8.0);
    for (a, b) in alone.iter().zip(together) {
        let b = b.expect("detection");
        assert_eq!(a.boxes.len(), b.boxes.len());
        for (x, y) in a.boxes.iter().zip(&b.boxes) {
            assert_eq!(x.class, y.class);
            assert!(x.iou(y) > 0.99 && (x.score - y.score).abs() < 1e-3, "{x:?} vs {y:?}");
        }
        // Every space of every frame went through the classifier in one pass, as alone.
        let (pa, pb) = (a.occupied.as_ref().expect("a classifier"), b.occupied.as_ref().expect("a classifier"));
        assert_eq!(pa.len(), 40);
        assert!(pa.iter().zip(pb).all(|(x, y)| (x - y).abs() < 1e-4), "{pa:?} vs {pb:?}");
    }
    // The full lot (2013-04-15 07:35) is seen full by the classifier too.
    let full = alone[0].occupied.as_ref().unwrap().iter().filter(|&&p| p > 0.5).count();
    assert!(full >= 35, "{full} of 40 spaces look occupied");
}

#[test]
fn a_file_that_is_not_a_model_is_refused_with_the_reason() {
    let config = DetectConfig { model: PathBuf::from("Cargo.toml"), device: "cpu".into(), ..Default::default() };
    let err = Detector::start(&config, Metrics::new()).err().expect("refused");
    assert!(err.contains("not a TorchScript archive"), "{err}");
    let config = DetectConfig {
        model: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/yolov5n.torchscript"),
        device: "cpu".into(),
        classes: vec!["horse-drawn carriage".into()],
        ..Default::default()
    };
    let err = Detector::start(&config, Metrics::new()).err().expect("refused");
    assert!(err.contains("none of the vehicle classes"), "{err}");
    // A detector given as the space classifier is refused at start, not at the first frame.
    let yolo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/yolov5n.torchscript");
    let config = DetectConfig { model: yolo.clone(), space_model: yolo, device: "cpu".into(), ..Default::default() };
    let err = Detector::start(&config, Metrics::new()).err().expect("refused");
    assert!(err.contains("is not a space classifier") && err.contains("kind null"), "{err}");
}
