//! The annealing trajectory table: one row per recorded annealing step.

use crate::table::{column, read_table, write_table};
use crate::{ArtifactError, Provenance, Result};
use arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use std::path::Path;
use std::sync::Arc;

/// Artifact kind of trajectory tables.
pub const TRAJECTORY_KIND: &str = "trajectory";
/// Schema version of trajectory tables.
pub const TRAJECTORY_VERSION: u32 = 1;

/// One recorded step of one annealing restart.
#[derive(Debug, Clone, PartialEq)]
pub struct TrajectoryRow {
    /// Restart index.
    pub restart: u32,
    /// Step within the restart.
    pub step: u64,
    /// Temperature at this step.
    pub temperature: f64,
    /// The objective the walk minimises (penalised).
    pub objective: f64,
    /// Surrogate-predicted bias of the current state.
    pub predicted_bias: f64,
    /// Surrogate-predicted perplexity of the current state.
    pub predicted_perplexity: f64,
    /// Whether the proposed move was accepted.
    pub accepted: bool,
    /// Number of pruned heads in the current state.
    pub num_pruned: u32,
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("restart", DataType::UInt32, false),
        Field::new("step", DataType::UInt64, false),
        Field::new("temperature", DataType::Float64, false),
        Field::new("objective", DataType::Float64, false),
        Field::new("predicted_bias", DataType::Float64, false),
        Field::new("predicted_perplexity", DataType::Float64, false),
        Field::new("accepted", DataType::Boolean, false),
        Field::new("num_pruned", DataType::UInt32, false),
    ]))
}

/// Writes a trajectory table atomically.
pub fn write_trajectory(
    path: &Path,
    rows: &[TrajectoryRow],
    provenance: &Provenance,
) -> Result<()> {
    let f64s = |f: fn(&TrajectoryRow) -> f64| {
        Arc::new(Float64Array::from_iter_values(rows.iter().map(f))) as ArrayRef
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.restart),
        )),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.step))),
        f64s(|r| r.temperature),
        f64s(|r| r.objective),
        f64s(|r| r.predicted_bias),
        f64s(|r| r.predicted_perplexity),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.accepted).collect::<Vec<_>>(),
        )),
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.num_pruned),
        )),
    ];
    let batch = RecordBatch::try_new(schema(), columns).map_err(|e| ArtifactError::Schema {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    write_table(path, schema(), &[batch], provenance)
}

/// Reads a trajectory table, checking its kind and schema.
pub fn read_trajectory(path: &Path) -> Result<(Vec<TrajectoryRow>, Provenance)> {
    let table = read_table(path)?;
    table
        .provenance
        .check_kind(path, TRAJECTORY_KIND, TRAJECTORY_VERSION)?;
    let mut rows = Vec::new();
    for batch in &table.batches {
        let f = |name: &str| column::<Float64Array>(batch, name, path);
        let restart = column::<UInt32Array>(batch, "restart", path)?;
        let step = column::<UInt64Array>(batch, "step", path)?;
        let accepted = column::<BooleanArray>(batch, "accepted", path)?;
        let num_pruned = column::<UInt32Array>(batch, "num_pruned", path)?;
        let (t, o, b, p) = (
            f("temperature")?,
            f("objective")?,
            f("predicted_bias")?,
            f("predicted_perplexity")?,
        );
        for i in 0..batch.num_rows() {
            rows.push(TrajectoryRow {
                restart: restart.value(i),
                step: step.value(i),
                temperature: t.value(i),
                objective: o.value(i),
                predicted_bias: b.value(i),
                predicted_perplexity: p.value(i),
                accepted: accepted.value(i),
                num_pruned: num_pruned.value(i),
            });
        }
    }
    Ok((rows, table.provenance))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.parquet");
        let rows: Vec<TrajectoryRow> = (0..5)
            .map(|i| TrajectoryRow {
                restart: 0,
                step: i,
                temperature: 1.0 / (i as f64 + 1.0),
                objective: i as f64,
                predicted_bias: 0.5,
                predicted_perplexity: 20.0,
                accepted: i % 2 == 0,
                num_pruned: i as u32,
            })
            .collect();
        let prov = Provenance::new(TRAJECTORY_KIND, TRAJECTORY_VERSION, "anneal", vec![]);
        write_trajectory(&p, &rows, &prov).unwrap();
        let (back, bprov) = read_trajectory(&p).unwrap();
        assert_eq!(back, rows);
        assert_eq!(bprov, prov);
    }
}
