//! `DetectorActor`: the model on SyncArbiter threads, away from the async runtime. Requests wait
//! in one shared queue, and a worker that comes free takes all that are waiting (up to the batch
//! size), so frames from several cameras go through the model in one forward pass.

use std::collections::VecDeque;
use std::sync::Arc;

use actix::prelude::*;
use image::RgbImage;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::model::{parse_device, Model};
use super::nms::Detection;
use super::yolo::{Timings, Yolo};
use crate::config::DetectConfig;
use crate::metrics::Metrics;

#[derive(Debug, Clone, thiserror::Error)]
pub enum DetectError {
    #[error("the detector failed: {0}")]
    Failed(String),
    #[error("the detector is not running")]
    Gone,
}

struct Job {
    frame: Arc<RgbImage>,
    reply: oneshot::Sender<Result<Vec<Detection>, DetectError>>,
}

type Queue = Arc<Mutex<VecDeque<Job>>>;

/// "Something is waiting in the queue."
#[derive(Message)]
#[rtype(result = "()")]
struct Work;

pub struct DetectorActor {
    yolo: Yolo,
    queue: Queue,
    batch: usize,
    metrics: Metrics,
}

impl Actor for DetectorActor {
    type Context = SyncContext<Self>;
}

impl Handler<Work> for DetectorActor {
    type Result = ();

    fn handle(&mut self, _: Work, _: &mut SyncContext<Self>) {
        let jobs: Vec<Job> = {
            let mut q = self.queue.lock();
            let n = q.len().min(self.batch);
            q.drain(..n).collect()
        };
        if jobs.is_empty() {
            // Another worker took them with an earlier message.
            return;
        }
        let frames: Vec<&RgbImage> = jobs.iter().map(|j| j.frame.as_ref()).collect();
        let mut timings = Timings::default();
        let result = self.yolo.detect(&frames, &mut timings);
        self.metrics.detect_batch_frames.observe(jobs.len() as f64);
        self.metrics.detect_seconds.observe(timings.total().as_secs_f64());
        match result {
            Ok(all) => {
                for (job, boxes) in jobs.into_iter().zip(all) {
                    let _ = job.reply.send(Ok(boxes));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "detection failed");
                for job in jobs {
                    let _ = job.reply.send(Err(DetectError::Failed(e.to_string())));
                }
            }
        }
    }
}

/// The handle the rest of the server uses.
#[derive(Clone)]
pub struct Detector {
    addr: Addr<DetectorActor>,
    queue: Queue,
    /// The vehicle classes the model was found to have.
    pub classes: Arc<Vec<String>>,
}

impl Detector {
    /// Loads one copy of the model per worker now, so a bad model or configuration is an error
    /// at start and not in a worker thread.
    pub fn start(config: &DetectConfig, metrics: Metrics) -> Result<Detector, String> {
        let device = parse_device(&config.device)?;
        let workers = config.workers.max(1);
        let mut yolos = Vec::with_capacity(workers);
        for _ in 0..workers {
            let model = Model::load(&config.model, device).map_err(|e| e.to_string())?;
            yolos.push(Yolo::new(model, config.params())?);
        }
        let classes = Arc::new(yolos[0].vehicle_classes().into_iter().map(String::from).collect::<Vec<_>>());
        tracing::info!(model = %config.model.display(), ?device, workers, imgsz = config.imgsz, classes = ?classes, "detector loaded");
        let queue: Queue = Arc::new(Mutex::new(VecDeque::new()));
        let pool = Arc::new(Mutex::new(yolos));
        let (q, batch, threads) = (queue.clone(), config.batch_size.max(1), config.threads);
        let addr = SyncArbiter::start(workers, move || {
            // libtorch's intra-op thread count is per calling thread under OpenMP.
            if threads > 0 {
                tch::set_num_threads(threads);
            }
            let yolo = pool.lock().pop().expect("one model per worker was loaded");
            DetectorActor { yolo, queue: q.clone(), batch, metrics: metrics.clone() }
        });
        Ok(Detector { addr, queue, classes })
    }

    pub async fn detect(&self, frame: Arc<RgbImage>) -> Result<Vec<Detection>, DetectError> {
        let (reply, rx) = oneshot::channel();
        self.queue.lock().push_back(Job { frame, reply });
        self.addr.do_send(Work);
        rx.await.map_err(|_| DetectError::Gone)?
    }
}
