//! MISP events and feeds (to be completed).

use std::io::BufRead;

use crate::{Emit, FormatError, ParseCtx};

/// Reads one MISP event JSON document.
pub fn parse_event(_r: &mut dyn BufRead, ctx: &ParseCtx, _emit: &mut Emit<'_>) -> Result<(), FormatError> {
    Err(FormatError::Unreadable { file: ctx.file.clone(), reason: "MISP events are not supported yet".into() })
}
