//! The commands that are tools, not the server: `eval` (accuracy on annotated lots, `--replay`
//! through the live loop), `bench detect` (speed against the Python reference), `detect` (boxes
//! of images) and `sim-camera` (a replayed camera, also the demo's).

pub mod bench;
pub mod detect;
pub mod eval;
pub mod replay;
pub mod sim;
