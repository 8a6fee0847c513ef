//! Prometheus metrics, rendered at `/metrics`.

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub ws_clients: IntGauge,
    pub ws_messages: IntCounter,
    pub slot_changes: IntCounterVec,
    pub slots: IntGaugeVec,
    pub db_connections: IntGaugeVec,
    pub camera_frames: IntCounterVec,
    pub stream_viewers: IntGauge,
    pub archive_queue: IntGauge,
    pub captures_stored: IntCounter,
    pub captures_dropped: IntCounterVec,
    pub captures_expired: IntCounter,
    pub detect_seconds: Histogram,
    pub detect_batch_frames: Histogram,
    /// Detector passes that failed (an error or a panic in the models).
    pub detect_failures: IntCounter,
    /// Confirmed changes waiting for the database (it is out), newest per space.
    pub changes_held: IntGauge,
    /// Captures the retention sweep could not delete.
    pub captures_undeletable: IntCounter,
    pub analyses: IntCounterVec,
    /// Per camera, when its latest analysis finished (Unix seconds): how far behind it is.
    pub analysed_at: GaugeVec,
    /// Writes refused because the lease they were made under has passed to another replica.
    pub fenced_writes: IntCounter,
    /// Leases this replica held and found taken over (it was paused or cut off too long).
    pub leases_lost: IntCounter,
    /// Cameras this replica owns now.
    pub cameras_owned: IntGauge,
    /// Notifications from the other replicas applied here.
    pub notices: IntCounter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("smartpark".into()), None).expect("static metric prefix is valid");
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered, by route and status"),
            &["method", "route", "status"],
        )
        .expect("static metric definition");
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Time to answer HTTP requests, by route")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0]),
            &["route"],
        )
        .expect("static metric definition");
        let ws_clients = IntGauge::new("ws_clients", "Connected WebSocket clients").expect("static metric definition");
        let ws_messages = IntCounter::new("ws_messages_total", "Messages queued to WebSocket clients")
            .expect("static metric definition");
        let slot_changes = IntCounterVec::new(
            Opts::new("slot_changes_total", "Stored changes of a space's state, by source and new state"),
            &["source", "state"],
        )
        .expect("static metric definition");
        let slots =
            IntGaugeVec::new(Opts::new("slots", "Spaces by state"), &["state"]).expect("static metric definition");
        let db_connections = IntGaugeVec::new(Opts::new("db_connections", "Database pool connections"), &["kind"])
            .expect("static metric definition");
        let camera_frames = IntCounterVec::new(
            Opts::new("camera_frames_total", "Frames received from cameras, by camera and how they came"),
            &["camera", "source"],
        )
        .expect("static metric definition");
        let stream_viewers = IntGauge::new("stream_viewers", "Clients watching a camera's MJPEG stream")
            .expect("static metric definition");
        let archive_queue =
            IntGauge::new("archive_queue", "Captures waiting for the image store").expect("static metric definition");
        let captures_stored =
            IntCounter::new("captures_stored_total", "Captures written to the image store and recorded")
                .expect("static metric definition");
        let captures_dropped = IntCounterVec::new(
            Opts::new("captures_dropped_total", "Captures given up, by reason (queue_full, refused)"),
            &["reason"],
        )
        .expect("static metric definition");
        let captures_expired = IntCounter::new("captures_expired_total", "Captures deleted by the retention rules")
            .expect("static metric definition");
        let detect_seconds = Histogram::with_opts(
            HistogramOpts::new("detect_seconds", "Time of one detector pass (preprocess, model, postprocess)")
                .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
        )
        .expect("static metric definition");
        let detect_batch_frames = Histogram::with_opts(
            HistogramOpts::new("detect_batch_frames", "Frames per detector pass")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0]),
        )
        .expect("static metric definition");
        let detect_failures = IntCounter::new("detect_failures_total", "Detector passes that failed (error or panic)")
            .expect("static metric definition");
        let changes_held = IntGauge::new(
            "slot_changes_held",
            "Confirmed space changes held in memory while the database is out, to be stored when it returns",
        )
        .expect("static metric definition");
        let captures_undeletable =
            IntCounter::new("captures_undeletable_total", "Captures the retention sweep failed to delete and skipped")
                .expect("static metric definition");
        let analyses = IntCounterVec::new(
            Opts::new("analyses_total", "Camera analyses, by outcome (detected, unchanged, failed)"),
            &["camera", "outcome"],
        )
        .expect("static metric definition");
        let analysed_at = GaugeVec::new(
            Opts::new(
                "analysis_last_timestamp_seconds",
                "When each camera's latest analysis (detected or unchanged) finished, in Unix seconds",
            ),
            &["camera"],
        )
        .expect("static metric definition");
        let fenced_writes = IntCounter::new(
            "fenced_writes_total",
            "Writes refused because this replica no longer held the lease they were made under",
        )
        .expect("static metric definition");
        let leases_lost = IntCounter::new("leases_lost_total", "Leases this replica held and found taken over")
            .expect("static metric definition");
        let cameras_owned = IntGauge::new("cameras_owned", "Cameras this replica owns (captures and analyses)")
            .expect("static metric definition");
        let notices = IntCounter::new("cluster_notices_total", "Notifications from other replicas applied")
            .expect("static metric definition");
        for c in [
            Box::new(fenced_writes.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(leases_lost.clone()),
            Box::new(cameras_owned.clone()),
            Box::new(notices.clone()),
            Box::new(detect_seconds.clone()),
            Box::new(analysed_at.clone()),
            Box::new(detect_batch_frames.clone()),
            Box::new(detect_failures.clone()),
            Box::new(changes_held.clone()),
            Box::new(captures_undeletable.clone()),
            Box::new(analyses.clone()),
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(ws_clients.clone()),
            Box::new(ws_messages.clone()),
            Box::new(slot_changes.clone()),
            Box::new(slots.clone()),
            Box::new(db_connections.clone()),
            Box::new(camera_frames.clone()),
            Box::new(stream_viewers.clone()),
            Box::new(archive_queue.clone()),
            Box::new(captures_stored.clone()),
            Box::new(captures_dropped.clone()),
            Box::new(captures_expired.clone()),
        ] {
            registry.register(c).expect("each metric is registered once");
        }
        Metrics {
            registry,
            http_requests,
            http_duration,
            ws_clients,
            ws_messages,
            slot_changes,
            slots,
            db_connections,
            camera_frames,
            stream_viewers,
            archive_queue,
            captures_stored,
            captures_dropped,
            captures_expired,
            detect_seconds,
            detect_batch_frames,
            detect_failures,
            changes_held,
            captures_undeletable,
            analyses,
            analysed_at,
            fenced_writes,
            leases_lost,
            cameras_owned,
            notices,
        }
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // The text encoder only fails on a broken writer; a Vec is not one.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
