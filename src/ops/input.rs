//! Reading an input file with a size cap: a file larger than
//! [`MAX_INPUT_BYTES`] (or an endless one such as /dev/zero) is refused
//! after reading at most one byte more than the limit.

use crate::error::ShownPath;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};

pub use crate::values::read::MAX_INPUT_BYTES;

/// The text of `path`, named in every message.
pub fn read_text(path: &Path) -> Result<String> {
    let name = path.shown();
    let file = std::fs::File::open(path).with_context(|| format!("{name}: cannot read"))?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{name}: cannot read"))?;
    if bytes.len() > MAX_INPUT_BYTES {
        anyhow::bail!(
            "{name}: larger than {} MiB, the most binderctl reads; is it the right file?",
            MAX_INPUT_BYTES >> 20
        );
    }
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{name}: not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}
