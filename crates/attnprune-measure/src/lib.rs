//! Model-independent measurement for attnprune.
//!
//! - [`prompts`]: prompt sets in the HolisticBias v1.1 format, built into
//!   sentences with metadata, split and sampled deterministically;
//! - [`sentiment`]: the [`sentiment::ReplyScorer`] trait and a VADER scorer;
//! - [`replies`]: the canned replies used by the reply-likelihood scorer;
//! - [`bias`]: FASP's per-axis bias with bucket statistics and a bootstrap
//!   confidence interval;
//! - [`corpus`]: utility corpora (plain text, WikiText-2, Brown) for perplexity.
//!
//! Everything here is deterministic: randomness comes from explicit seeds
//! through `ChaCha8Rng`, and maps are iterated in sorted order.

mod files;

pub mod bias;
pub mod corpus;
pub mod error;
pub mod prompts;
pub mod replies;
pub mod sentiment;

pub use error::MeasureError;
