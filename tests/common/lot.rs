//! The lot the capacity and soak benchmarks analyse: PKLot UFPR05's day
//! (`../shared/fixtures/pklot/day-2013-02-24`, 1280x720) played by one `sim-camera` at 1 fps,
//! each camera a stream of it with the camera's 40 PKLot spaces.

use std::time::Duration;

use serde_json::json;

use super::metrics::done;
use super::sim::{pklot, SimCamera};
use super::{call, eventually, Server};

/// The spaces of PKLot UFPR05 (its first annotated frame of the day the sim plays).
pub fn ufpr05_spaces() -> Vec<u8> {
    std::fs::read(pklot("annotated/sequence0/bounding_boxes/2013-02-24_10_05_04.xml")).expect("the PKLot spaces")
}

/// Creates camera `id` pulling the MJPEG stream at `url`, with the spaces of the PKLot file `xml`.
pub async fn pklot_camera(http: &reqwest::Client, s: &Server, id: &str, url: &str, xml: &[u8]) {
    let (st, body) = call(http.post(s.url("/api/cameras")).json(&json!({
        "id": id, "name": id, "source": {"kind": "mjpeg", "url": url}
    })))
    .await;
    assert_eq!(st, 201, "{body}");
    let (st, body) = call(
        http.post(s.url(&format!("/api/cameras/{id}/import-pklot")))
            .header("content-type", "application/xml")
            .body(xml.to_vec()),
    )
    .await;
    assert_eq!(st, 200, "{body}");
}

pub struct ReplayedLot {
    pub sim: SimCamera,
    xml: Vec<u8>,
}

impl ReplayedLot {
    /// Starts the replayed camera; the models must be there (`make models`).
    pub fn start() -> ReplayedLot {
        for model in ["models/yolov5n.torchscript", "models/space-classifier.torchscript"] {
            assert!(std::path::Path::new(model).is_file(), "{model} is missing: run `make models`");
        }
        let xml = ufpr05_spaces();
        ReplayedLot { sim: SimCamera::start_frames(&pklot("day-2013-02-24"), 0, 1.0), xml }
    }

    /// A server that analyses every 5 s on the CPU with the default models, logging warnings only.
    pub fn server(extra: &[(&str, &str)]) -> Server {
        let mut env = vec![
            ("SMARTPARK_DETECT__ENABLED", "true"),
            ("SMARTPARK_DETECT__DEVICE", "cpu"),
            ("SMARTPARK_DETECT__INTERVAL_S", "5"),
            ("SMARTPARK_LOG__LEVEL", "warn"),
            ("RUST_LOG", "warn"),
        ];
        env.extend_from_slice(extra);
        Server::start_with(&env)
    }

    /// Adds `cameras` cameras (`cam000`, …) streaming the day, with their spaces, and waits until
    /// each has been analysed once.
    pub async fn add_cameras(&self, http: &reqwest::Client, s: &Server, cameras: usize) {
        for i in 0..cameras {
            let url = self.sim.url(&format!("/stream?camera={i}"));
            pklot_camera(http, s, &format!("cam{i:03}"), &url, &self.xml).await;
        }
        eventually(Duration::from_secs(180), "every camera analysed once", || async {
            (done(http, s).await.values().filter(|&&v| v >= 1.0).count() == cameras).then_some(())
        })
        .await;
    }
}
