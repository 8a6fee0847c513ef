//! `DetectorActor`: the models on SyncArbiter threads, away from the async runtime. Requests wait
//! in one shared queue, and a worker that comes free takes all that are waiting (up to the batch
//! size), so frames from several cameras go through the detector in one forward pass, and all
//! their spaces through the space classifier in another.

use std::collections::VecDeque;
use std::sync::Arc;

use actix::prelude::*;
use image::RgbImage;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::classifier::{ClassifierTimings, SpaceClassifier};
use super::model::{parse_device, Model};
use super::nms::Detection;
use super::yolo::{Timings, Yolo};
use crate::config::DetectConfig;
use crate::metrics::Metrics;
use crate::parking::geometry::Polygon;

#[derive(Debug, Clone, thiserror::Error)]
pub enum DetectError {
    #[error("the detector failed: {0}")]
    Failed(String),
    #[error("the detector is not running")]
    Gone,
    #[error("no answer from the detector within {0:?}")]
    Timeout(std::time::Duration),
}

/// What the models saw in one frame.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// Vehicle boxes in frame pixels.
    pub boxes: Vec<Detection>,
    /// Per space asked about, the space classifier's probability that it is occupied; None
    /// without a classifier.
    pub occupied: Option<Vec<f32>>,
}

struct Job {
    frame: Arc<RgbImage>,
    spaces: Arc<Vec<Polygon>>,
    reply: oneshot::Sender<Result<Seen, DetectError>>,
}

type Queue = Arc<Mutex<VecDeque<Job>>>;

/// "Something is waiting in the queue."
#[derive(Message)]
#[rtype(result = "()")]
struct Work;

pub struct DetectorActor {
    yolo: Yolo,
    classifier: Option<SpaceClassifier>,
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
        match self.run(&jobs) {
            Ok(all) => {
                for (job, seen) in jobs.into_iter().zip(all) {
                    let _ = job.reply.send(Ok(seen));
                }
            }
            // One frame may be what the model cannot take: each alone, so that only its own
            // job fails and the other cameras of the batch are still answered.
            Err(e) if jobs.len() > 1 => {
                tracing::warn!(error = %e, frames = jobs.len(), "a batch failed; its frames go through one by one");
                for job in jobs {
                    let result = self.run(std::slice::from_ref(&job)).map(|mut seen| seen.remove(0));
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                for job in jobs {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

impl DetectorActor {
    /// One pass of the models over `jobs`. A panic inside them (tch panics on some shape and
    /// device errors) fails these jobs, not the worker: the thread and its models stay, and the
    /// next jobs run.
    fn run(&mut self, jobs: &[Job]) -> Result<Vec<Seen>, DetectError> {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.infer(jobs)));
        let result = match outcome {
            Ok(result) => result,
            Err(panic) => {
                let why = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("no message");
                Err(DetectError::Failed(format!("the model panicked: {why}")))
            }
        };
        if let Err(e) = &result {
            self.metrics.detect_failures.inc();
            tracing::error!(error = %e, frames = jobs.len(), "detection failed");
        }
        result
    }

    fn infer(&mut self, jobs: &[Job]) -> Result<Vec<Seen>, DetectError> {
        let frames: Vec<&RgbImage> = jobs.iter().map(|j| j.frame.as_ref()).collect();
        let mut timings = Timings::default();
        let mut classifier_timings = ClassifierTimings::default();
        let boxes = self.yolo.detect(&frames, &mut timings).map_err(|e| DetectError::Failed(e.to_string()))?;
        let asked: Vec<(&RgbImage, &[Polygon])> =
            jobs.iter().map(|j| (j.frame.as_ref(), j.spaces.as_slice())).collect();
        // The classifier failing costs its evidence, not the boxes: the spaces are then judged by
        // the detector alone.
        let occupied: Vec<Option<Vec<f32>>> =
            match self.classifier.as_ref().map(|c| c.classify(&asked, &mut classifier_timings)) {
                Some(Ok(p)) => p.into_iter().map(Some).collect(),
                Some(Err(e)) => {
                    tracing::error!(error = %e, "the space classifier failed; the boxes decide alone");
                    vec![None; jobs.len()]
                }
                None => vec![None; jobs.len()],
            };
        self.metrics.detect_batch_frames.observe(jobs.len() as f64);
        self.metrics
            .detect_seconds
            .observe((timings.total() + classifier_timings.patches + classifier_timings.inference).as_secs_f64());
        Ok(boxes.into_iter().zip(occupied).map(|(boxes, occupied)| Seen { boxes, occupied }).collect())
    }
}

/// The handle the rest of the server uses.
#[derive(Clone)]
pub struct Detector {
    addr: Addr<DetectorActor>,
    queue: Queue,
    timeout: std::time::Duration,
    /// The vehicle classes the model was found to have.
    pub classes: Arc<Vec<String>>,
}

impl Detector {
    /// Loads one copy of the model per worker now, so a bad model or configuration is an error
    /// at start and not in a worker thread.
    pub fn start(config: &DetectConfig, metrics: Metrics) -> Result<Detector, String> {
        let device = parse_device(&config.device)?;
        let workers = config.workers.max(1);
        let with_classifier = config.space_model.is_file();
        if !with_classifier {
            tracing::warn!(
                model = %config.space_model.display(),
                "no space classifier there (`make models` trains one): spaces are judged by the detector's boxes alone"
            );
        }
        let mut yolos = Vec::with_capacity(workers);
        for _ in 0..workers {
            let model = Model::load(&config.model, device).map_err(|e| e.to_string())?;
            let classifier = if with_classifier {
                Some(SpaceClassifier::load(&config.space_model, device).map_err(|e| e.to_string())?)
            } else {
                None
            };
            yolos.push((Yolo::new(model, config.params())?, classifier));
        }
        let classes = Arc::new(yolos[0].0.vehicle_classes().into_iter().map(String::from).collect::<Vec<_>>());
        tracing::info!(model = %config.model.display(), ?device, workers, imgsz = config.imgsz, classes = ?classes,
            space_model = with_classifier.then(|| config.space_model.display().to_string()), "detector loaded");
        let queue: Queue = Arc::new(Mutex::new(VecDeque::new()));
        let pool = Arc::new(Mutex::new(yolos));
        let (q, batch, threads) = (queue.clone(), config.batch_size.max(1), config.threads);
        let addr = SyncArbiter::start(workers, move || {
            // libtorch's intra-op thread count is per calling thread under OpenMP.
            if threads > 0 {
                tch::set_num_threads(threads);
            }
            let (yolo, classifier) = pool.lock().pop().expect("one model per worker was loaded");
            DetectorActor { yolo, classifier, queue: q.clone(), batch, metrics: metrics.clone() }
        });
        Ok(Detector { addr, queue, timeout: std::time::Duration::from_secs_f64(config.timeout_s), classes })
    }

    /// The vehicles in a frame and, with a space classifier, how likely each of `spaces` is
    /// occupied.
    pub async fn detect(&self, frame: Arc<RgbImage>, spaces: Arc<Vec<Polygon>>) -> Result<Seen, DetectError> {
        let (reply, rx) = oneshot::channel();
        self.queue.lock().push_back(Job { frame, spaces, reply });
        self.addr.do_send(Work);
        // A worker stuck inside libtorch cannot be interrupted; the analysis stops waiting for it.
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(answer) => answer.map_err(|_| DetectError::Gone)?,
            Err(_) => Err(DetectError::Timeout(self.timeout)),
        }
    }
}
