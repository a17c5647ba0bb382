//! The attnprune stages behind their command lines.
//!
//! Each binary in `src/bin/` parses its arguments with clap and calls one
//! `run` function here; everything they share (model and measurement
//! arguments, provenance of inputs, progress bars, the error-reporting main)
//! lives in [`common`] and [`inputs`].

pub mod anneal_stage;
pub mod apply_stage;
pub mod choose_stage;
pub mod common;
pub mod device_check_stage;
pub mod evaluation;
pub mod fasp_stage;
pub mod inputs;
pub mod noise_stage;
pub mod random_stage;
pub mod report_stage;
pub mod sample_stage;
pub mod selection;
pub mod surrogate_files;
pub mod train_stage;
