//! Simulated annealing over binary vectors (e.g. attention-head masks, `true` = pruned).
//!
//! The search knows nothing about language models: it minimises any [`FlipObjective`], an
//! objective that can cheaply score single-bit flips of its current state. A
//! [`ConstrainedObjective`] turns two predictors `f` and `g` into "minimise `f` subject to
//! `g <= limit`", with a penalty for the walk and a hard feasibility rule for the result.
//!
//! [`anneal`] runs Metropolis walks (uniform single-bit flips) with a configurable start
//! temperature and cooling schedule, several restarts in parallel, and deterministic results:
//! the same [`AnnealConfig`] (seed included) and objective give bit-identical output for any
//! number of threads.
//!
//! With [`AnnealConfig::pool_size`] `> 0` each restart also keeps its best distinct feasible
//! visited states ([`RestartResult::pool`], merged by [`AnnealResult::pool`]), and
//! [`select_diverse`] picks a diverse subset of them to verify on the real model;
//! [`spread_candidates`] spreads that choice over several walks' pools.

mod config;
mod constrained;
mod diverse;
mod engine;
mod error;
mod objective;
mod pool;
mod result;
mod schedule;

pub use config::{AnnealConfig, StartState};
pub use constrained::ConstrainedObjective;
pub use diverse::{select_diverse, spread_candidates};
pub use engine::{anneal, restart_rng};
pub use error::AnnealError;
pub use objective::{Evaluation, FlipObjective, FnObjective, LinearObjective};
pub use result::{AnnealResult, RestartResult, Solution, TrajectoryRow};
pub use schedule::{Cooling, StartTemperature};
