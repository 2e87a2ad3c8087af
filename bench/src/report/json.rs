//! The JSON file: run facts, summaries and every raw sample, to compare commits.

use std::path::Path;

use super::{RunInfo, Sample, Summary};

/// Writes `{ "info", "summaries", "samples" }` as pretty JSON to `path`.
pub(crate) fn write_json(
    path: &Path,
    info: &RunInfo,
    samples: &[Sample],
    summaries: &[Summary],
) -> std::io::Result<()> {
    let json = serde_json::json!({
        "info": info,
        "summaries": summaries,
        "samples": samples,
    });
    let text = serde_json::to_string_pretty(&json).map_err(std::io::Error::other)?;
    std::fs::write(path, text)
}
